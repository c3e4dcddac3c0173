"""What both gateway simulators share: the HTTP server, scripted behaviours, the ledger, control API.

The real gateways cannot be reached from the test machines, so each simulator speaks its gateway's
documented wire protocol on 127.0.0.1 and keeps a ledger that is the gateway's truth: what money
was taken, what was refunded, how many pay calls arrived. Tests and benches compare the box's own
books with that ledger.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cloud.gateways.ledger import CHINA, Refund, Trade
from cloud.gateways.network import Network
from cloud.gateways.notify import Delivery, Notifier
from cloud.gateways.server import HTML_500, Answer, GatewayServer, json_answer

OUTCOMES = frozenset(
    {
        "success",
        "wait",
        "wait_forever",
        "decline",
        "expired_code",
        "timeout",
        "error500",
        "system_error",
        "lose_notification",
        "duplicate_notification",
    }
)


@dataclass(frozen=True)
class Behaviour:
    """What the shopper's wallet (and the gateway's network) does with one payment, scripted by key.

    success: paid at once. wait / wait_forever: "waiting for the user", paid `seconds` after the pay
    call / never. decline, expired_code: refused, nothing taken. timeout, error500, system_error: paid,
    but the answer is held for `seconds` / an HTML 500 / a signed system error. lose_notification,
    duplicate_notification: an in-app order's notification is never sent / sent twice.
    """

    outcome: str = "success"
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}; one of {sorted(OUTCOMES)}")
        if self.seconds < 0:
            raise ValueError("seconds must not be negative")
        if self.outcome == "timeout" and self.seconds <= 0:
            raise ValueError("a timeout holds the answer for `seconds`: give more than the client's timeout")


def new_rsa_pair() -> tuple[str, str]:
    """A fresh 2048-bit key: (PKCS#1 private PEM that pycryptodomex imports, SubjectPublicKeyInfo PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


class GatewaySimulator:
    """Base of both simulators: lifecycle, scripting, ledger, notifications and the /_sim/ control API."""

    GATEWAY_PATH: ClassVar[str] = "/"
    PAID_STATUS: ClassVar[str] = "PAID"
    CODE_WAITING_STATUS: ClassVar[str] = "WAITING"  # a pay call waiting for the shopper's password
    ORDER_WAITING_STATUS: ClassVar[str] = "WAITING"  # an in-app order not yet paid
    DECLINED_STATUS: ClassVar[str] = "CLOSED"
    CLOSED_STATUSES: ClassVar[frozenset[str]] = frozenset({"CLOSED"})

    def __init__(self, latency_ms: int = 0) -> None:
        self.latency_ms = latency_ms
        self._lock = threading.RLock()
        self._trades: dict[str, Trade] = {}
        self._scripts: dict[str, Behaviour] = {}
        self._agreements: set[str] = set()
        self._pay_calls: Counter[str] = Counter()
        self._counts: Counter[str] = Counter(dict.fromkeys(("calls", "signatures_refused", "internal_errors"), 0))
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self.network = Network(self._stopping)  # pause() holds requests on their way in
        self._server: GatewayServer | None = None
        self._thread: threading.Thread | None = None
        self.notifier = Notifier(self._acknowledged, self._stopping)

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> str:
        """Listen on a free port of 127.0.0.1 and return the URL to give the SDK."""
        if self._server is None:
            self._stopping.clear()
            self._server = GatewayServer(self._dispatch, self._stopping, self._count)
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name=f"{type(self).__name__}-http", daemon=True
            )  # a short poll interval: stop() waits for the loop to notice
            self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop answering; held answers and pending notification retries are abandoned."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def url(self) -> str:
        return self.base_url + self.GATEWAY_PATH

    # scripting -------------------------------------------------------------------------------
    def script(self, key: str, behaviour: Behaviour) -> None:
        """Decide what happens to payments keyed by `key` (payment code, out_trade_no or agreement)."""
        with self._lock:
            self._scripts[key] = behaviour

    def behaviour(self, key: str) -> Behaviour:
        with self._lock:
            return self._scripts.get(key, Behaviour())

    def add_agreement(self, agreement_no: str) -> None:
        """Register a signed withholding agreement (Alipay agreement_no, WeChat contract_id)."""
        with self._lock:
            self._agreements.add(agreement_no)

    # ledger ----------------------------------------------------------------------------------
    def trades(self) -> list[dict[str, Any]]:
        """The gateway's truth, one dict per out_trade_no (see _view for the fields)."""
        with self._lock:
            return [self._view(self._settle(t)) for t in self._trades.values()]

    def trade(self, out_trade_no: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._get(out_trade_no)
            return None if found is None else self._view(found)

    def pay_calls(self, out_trade_no: str) -> int:
        """How many pay calls named this out_trade_no, including refused ones that left no trade."""
        with self._lock:
            return self._pay_calls[out_trade_no]

    def stats(self) -> dict[str, int]:
        with self._lock:
            counts = dict(self._counts)
            counts["pay_calls"] = sum(self._pay_calls.values())
        counts.update(self.notifier.counts())
        return counts

    def _count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def _state(self, trade: Trade) -> str:
        if trade.status in self.CLOSED_STATUSES:
            return "closed"
        return "paid" if trade.paid else "waiting"

    def _view(self, trade: Trade) -> dict[str, Any]:
        return {
            "out_trade_no": trade.out_trade_no,
            "trade_no": trade.trade_no,
            "amount_minor": trade.amount_minor,
            "status": trade.status,
            "state": self._state(trade),
            "paid": trade.paid,
            "refunded_minor": trade.refunded_minor,
            "money_taken_minor": trade.left_minor,
            "pay_calls": self._pay_calls[trade.out_trade_no],
            "attach": trade.attach,
            "kind": trade.kind,
            "key": trade.key,
            "notify_url": trade.notify_url,
            "paid_at": trade.paid_at.isoformat() if trade.paid_at else None,
            "refunds": [
                {"out_request_no": r.out_request_no, "amount_minor": r.amount_minor, "via": r.via}
                for r in trade.refunds.values()
            ],
        }

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{datetime.now(CHINA):%Y%m%d}{next(self._ids):012d}"

    def _settle(self, trade: Trade) -> Trade:
        """A "wait" shopper confirms once their seconds are up; applied whenever the trade is looked at."""
        if trade.due_at is not None and trade.status == self.CODE_WAITING_STATUS and time.monotonic() >= trade.due_at:
            self._mark_paid(trade)
        return trade

    def _get(self, out_trade_no: str) -> Trade | None:
        trade = self._trades.get(out_trade_no)
        return None if trade is None else self._settle(trade)

    def _mark_paid(self, trade: Trade) -> None:
        trade.status, trade.paid, trade.paid_at, trade.due_at = self.PAID_STATUS, True, datetime.now(CHINA), None

    def _new_trade(self, out_trade_no: str, amount_minor: int, kind: str, key: str = "", attach: str = "") -> Trade:
        trade = Trade(out_trade_no, self._next_id(""), amount_minor, self.ORDER_WAITING_STATUS, kind, key, attach)
        self._trades[out_trade_no] = trade
        return trade

    def _charge(
        self, out_trade_no: str, amount_minor: int, kind: str, key: str, attach: str
    ) -> tuple[Behaviour, Trade | None]:
        """A new pay call: apply the behaviour scripted for `key`; the caller words the answer.

        No trade is recorded for an expired code (the wallet refused before a trade existed).
        """
        behaviour = self.behaviour(key)
        if behaviour.outcome == "expired_code":
            return behaviour, None
        trade = self._new_trade(out_trade_no, amount_minor, kind, key, attach)
        if behaviour.outcome == "decline":
            trade.status = self.DECLINED_STATUS
        elif behaviour.outcome in ("wait", "wait_forever"):
            trade.status = self.CODE_WAITING_STATUS
            trade.due_at = time.monotonic() + behaviour.seconds if behaviour.outcome == "wait" else None
        else:
            self._mark_paid(trade)
        return behaviour, trade

    def _refund(self, trade: Trade, request_no: str, amount_minor: int, via: str) -> tuple[Refund | None, str]:
        """Give money back once per request number. The string is "" (done), "repeat" (the first refund
        is returned), "not_paid" or "too_much"."""
        if request_no in trade.refunds:
            return trade.refunds[request_no], "repeat"
        if not trade.paid:
            return None, "not_paid"
        if amount_minor <= 0 or amount_minor > trade.left_minor:
            return None, "too_much"
        refund = Refund(request_no, amount_minor, via, self._next_id("R"))
        trade.refunds[request_no] = refund
        return refund, ""

    def _cancel(self, out_trade_no: str, status: str, via: str) -> tuple[str, Trade]:
        """Cancel/reverse: close a waiting trade, refund a paid one, record an unknown one as closed so a
        late pay cannot succeed. Returns the action ("close" or "refund") and the trade."""
        trade = self._get(out_trade_no)
        if trade is None:
            trade = self._new_trade(out_trade_no, 0, "cancelled")
        action = "refund" if trade.paid else "close"
        if trade.left_minor > 0:
            self._refund(trade, f"{via}:{out_trade_no}", trade.left_minor, via)
        trade.status, trade.due_at = status, None
        return action, trade

    def _open_order(self, out_trade_no: str, amount_minor: int, attach: str, notify_url: str) -> tuple[Trade, str]:
        """An in-app/QR order; placing the same one again returns it. The string names a problem:
        "" (none), "paid", "closed" or "mismatch" (same out_trade_no, other amount)."""
        trade = self._get(out_trade_no)
        if trade is not None:
            state = self._state(trade)
            if state != "waiting":
                return trade, state
            return trade, "" if trade.amount_minor == amount_minor else "mismatch"
        trade = self._new_trade(out_trade_no, amount_minor, "order", out_trade_no, attach)
        trade.notify_url = notify_url
        return trade, ""

    @staticmethod
    def _finish(behaviour: Behaviour | None, answer: Answer) -> Answer:
        """Apply the network part of a behaviour to an answer already decided."""
        if behaviour is not None and behaviour.outcome == "timeout":
            return Answer(answer.status, answer.content_type, answer.body, hold=behaviour.seconds)
        if behaviour is not None and behaviour.outcome == "error500":
            return HTML_500
        return answer

    # in-app orders and notifications -------------------------------------------------------
    def shopper_pays(self, out_trade_no: str) -> Delivery:
        """The shopper pays an in-app/QR order in their wallet; the notification goes out in the
        background (wait on the returned Delivery's `done`). KeyError: unknown; ValueError: not payable."""
        with self._lock:
            trade = self._get(out_trade_no)
            if trade is None:
                raise KeyError(out_trade_no)
            if trade.kind != "order" or self._state(trade) != "waiting":
                raise ValueError(f"{out_trade_no} is a {trade.kind} trade in status {trade.status}")
            self._mark_paid(trade)
            outcome = self.behaviour(out_trade_no).outcome
            body, content_type = self._notification(trade, forged=False)
        copies = {"lose_notification": 0, "duplicate_notification": 2}.get(outcome, 1)
        return self.notifier.send(trade.notify_url, body, content_type, copies)

    def forge_notification(
        self, out_trade_no: str, notify_url: str, amount_minor: int | None = None
    ) -> tuple[int, str]:
        """Send a "paid" notification signed with a wrong key (an attacker's); returns (HTTP status, body)."""
        with self._lock:
            real = self._get(out_trade_no)
            fake = Trade(
                out_trade_no,
                real.trade_no if real else self._next_id(""),
                amount_minor if amount_minor is not None else (real.amount_minor if real else 1),
                self.PAID_STATUS,
                "order",
                attach=real.attach if real else "",
                paid=True,
                paid_at=datetime.now(CHINA),
                extra=dict(real.extra) if real else {},
            )
            body, content_type = self._notification(fake, forged=True)
        return self.notifier.post_once(notify_url, body, content_type, "notifications_forged")

    def replay_last_notification(self) -> tuple[int, str]:
        """Send the last genuine notification once more, unchanged (a replay attack or a gateway retry)."""
        return self.notifier.replay_last()

    def _notification(self, trade: Trade, forged: bool) -> tuple[bytes, str]:
        raise NotImplementedError

    def _acknowledged(self, status: int, text: str) -> bool:
        raise NotImplementedError

    # HTTP ------------------------------------------------------------------------------------
    def _dispatch(self, method: str, path: str, query: str, body: bytes, content_type: str) -> Answer:
        if path.startswith("/_sim/"):
            return self._control(method, path, body)
        if not self.network.wait_open():
            return HTML_500
        if self._stopping.wait(self.latency_ms / 1000):
            return HTML_500
        self._count("calls")
        return self._gateway_call(method, path, query, body, content_type)

    def _gateway_call(self, method: str, path: str, query: str, body: bytes, content_type: str) -> Answer:
        raise NotImplementedError

    def _control(self, method: str, path: str, body: bytes) -> Answer:
        """The JSON control API, for scripting a simulator that runs in another process."""
        if method == "GET" and path == "/_sim/ledger":
            return json_answer({"trades": self.trades(), "stats": self.stats()})
        if method == "GET" and path == "/_sim/stats":
            return json_answer(self.stats())
        if method != "POST":
            return json_answer({"error": f"no {method} {path}"}, 404)
        try:
            doc = json.loads(body or b"{}")
            if not isinstance(doc, dict):
                raise ValueError("expected a JSON object")
            if path == "/_sim/script":
                self.script(
                    str(doc["key"]), Behaviour(str(doc.get("outcome", "success")), float(doc.get("seconds", 0)))
                )
                return json_answer({"ok": True})
            if path == "/_sim/agreement":
                self.add_agreement(str(doc.get("agreement_no") or doc["contract_id"]))
                return json_answer({"ok": True})
            if path == "/_sim/pay":
                self.shopper_pays(str(doc["out_trade_no"]))
                return json_answer({"ok": True, "trade": self.trade(str(doc["out_trade_no"]))})
        except KeyError as exc:
            return json_answer({"error": f"unknown or missing {exc}"}, 404)
        except ValueError as exc:
            return json_answer({"error": str(exc)}, 409 if path == "/_sim/pay" else 400)
        return json_answer({"error": f"no {method} {path}"}, 404)
