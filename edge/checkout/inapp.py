"""In-app pay: the shopper pays inside the wallet (WeChat Pay Native, Alipay precreate) and the
gateway tells the box, by a signed asynchronous notification or, when that never comes, by the
answer to a query.

1. `start`: the cart is checked and priced as for any payment, the intent is written, the cart is
   frozen (session status "paying": no change, no other payment) and the order is placed at the
   gateway under the intent id. The QR text goes to the shopper's screen.
2. `notified`: a notification is verified (signature, merchant, amount), then completes the sale
   once: the order commits exactly as a kiosk checkout's does. A repeat finds the order and is
   acknowledged again; a forged, mis-signed or unknown one is refused and audited.
3. `poll` (the page asking, at most every `poll_interval_s`) and `sweep` (housekeeping and start-up)
   ask the gateway about intents still open: paid completes, closed fails and unfreezes the cart,
   and one still unpaid after `inapp_wait_s` is closed at the gateway first.
A sale that cannot be written after the money was taken (the cart's total changed, a coupon was
used elsewhere) is cancelled at the gateway, which refunds it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlmodel import col, select

from edge.bus import Bus
from edge.checkout import cartrows, chaincoupons
from edge.checkout.events import CartChanged
from edge.checkout.models import KioskSession, PaymentIntent
from edge.checkout.orders import Checkout
from edge.checkout.payable import payable_intent
from edge.checkout.payments import PaymentFailed, PaymentTimeout, PaymentUnconfirmed
from edge.checkout.rails import RAIL_LABELS, NotificationRefused, Rail
from edge.checkout.settings import CheckoutConfig
from edge.platform.errors import EdgeError, NotFound, ResourceFault, Unprocessable
from edge.platform.store import Store
from edge.platform.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)


EXPIRY_GRACE_S = 120  # past the order's expiry (set at the gateway), an order never scanned is over
AUDITED_REFUSALS_PER_MIN = 30  # refused notifications audited one by one; beyond, only logged


class _Budget:
    """At most `n` per `window_s` seconds (a fixed window: simple, and enough for an audit trail)."""

    def __init__(self, n: int, window_s: float) -> None:
        self.n, self.window_s = n, window_s
        self._start, self._used = 0.0, 0
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._start >= self.window_s:
                self._start, self._used = now, 0
            self._used += 1
            return self._used <= self.n


@dataclass(frozen=True)
class Ack:
    body: str
    media_type: str


class InAppPay:
    def __init__(self, settings: CheckoutConfig, store: Store, bus: Bus, checkout: Checkout) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.checkout = checkout
        self.sessions = checkout.sessions
        self._asked: dict[str, float] = {}  # intent id -> when the gateway was last asked (poll)
        self._refusals = _Budget(AUDITED_REFUSALS_PER_MIN, 60.0)
        self._qr: dict[str, str] = {}  # intent id -> what the wallet opens, while it waits (memory only)

    def rail(self, name: str) -> Rail:
        prov = self.checkout.providers.get(name)
        if not isinstance(prov, Rail):
            raise Unprocessable(
                f"this store does not take {RAIL_LABELS.get(name, name)} in-app payments", code="rail_not_configured"
            )
        return prov

    # --- 1. placing the order ---------------------------------------------------------------
    def start(
        self, session_id: str, kiosk_id: str | None, rail_name: str, client_key: str | None, expected: int | None
    ) -> dict[str, Any]:
        rail = self.rail(rail_name)
        with self.sessions.locks.hold(session_id):
            replay = self._replay(session_id, kiosk_id, client_key)
            if replay is not None:
                return replay
            self.sessions.refresh_wallet(session_id)  # a wallet coupon expired, or now applies
            with self.store.read() as s:
                ks, intent = payable_intent(
                    self.sessions, self.settings, s, session_id, kiosk_id, rail.name, client_key, expected
                )
            # the chain's single-use coupons, held until the wallet pays or the order closes (chaincoupons.py)
            spent = partial(self.sessions.refresh_wallet, session_id)  # a wallet coupon used elsewhere: off the cart
            held = chaincoupons.reserve(self.checkout.coupons(), chaincoupons.holder(self.settings, session_id),
                                        ks.coupons, lambda key: spent(drop=key))  # fmt: skip
            try:
                with self.store.write() as s:
                    s.insert(intent)
                    frozen = self._set_status(s, session_id, "open", "paying")
                self._changed(frozen, "paying")
                try:
                    qr = rail.create_order(intent.id, intent.amount_minor, ks.id)
                except PaymentFailed as exc:  # the gateway said no: nothing was placed
                    self._fail(intent.id, exc.code)
                    raise
                except EdgeError as exc:  # unknown: close the number before anyone can pay it
                    if not rail.close(intent.id):
                        raise PaymentUnconfirmed(
                            "the wallet order could not be confirmed; it will be closed automatically. "
                            "Please wait a moment before paying another way.",
                            details={"charged": "unknown"},
                        ) from exc
                    self._fail(intent.id, exc.code)
                    raise PaymentFailed(
                        "the wallet order could not be placed; you have not been charged", details={"charged": False}
                    ) from exc
            except BaseException:
                held.release_unless_paid()
                raise
        while len(self._qr) >= 10_000:  # bounded: the oldest wallet orders have long closed
            self._qr.pop(next(iter(self._qr)))
        self._qr[intent.id] = qr
        return self._answer(intent, qr)

    def _answer(self, intent: PaymentIntent, qr: str) -> dict[str, Any]:
        waited = (utcnow() - as_utc(intent.created_at)).total_seconds()
        return {
            "payment_id": intent.id,
            "rail": intent.provider,
            "qr_code": qr,
            "amount_minor": intent.amount_minor,
            "currency": intent.currency,
            "expires_in_s": max(0, int(self.settings.checkout.rails.inapp_wait_s - waited)),
        }

    def _replay(self, session_id: str, kiosk_id: str | None, client_key: str | None) -> dict[str, Any] | None:
        """The same request again (its answer was lost): the wallet order already placed, once."""
        if not client_key:
            return None
        latest = self._latest(session_id, kiosk_id)
        if latest is None or latest.client_key != client_key or latest.status != "authorizing":
            return None
        qr = self._qr.get(latest.id)
        return self._answer(latest, qr) if qr else None

    # --- 2. the gateway's notification ------------------------------------------------------
    def notified(self, rail_name: str, body: bytes, content_type: str) -> Ack:
        rail = self.rail(rail_name)
        try:
            notice = rail.notification(body, content_type)
            with self.store.read() as s:
                intent = s.get(PaymentIntent, notice.key)
            if intent is None or intent.provider not in (rail.name, f"face-{rail.name}"):
                raise NotificationRefused("a notification for a payment this box never placed", code="unknown_payment")
            if notice.amount_minor != intent.amount_minor:
                raise NotificationRefused("the notified amount is not the amount ordered", code="amount_mismatch")
        except NotificationRefused as exc:
            if self._refusals.allow():  # a flood of forgeries must not turn into a flood of fsyncs
                with self.store.write() as s:
                    s.audit(f"gateway:{rail.name}", "payment.notification_refused", "", reason=exc.code)
            log.warning("%s notification refused: %s", rail.name, exc.code)
            raise
        if intent.order_id:  # a repeat (the gateway resends until acknowledged) or a replay: no effect
            if self._refusals.allow():
                with self.store.write() as s:
                    s.audit(f"gateway:{rail.name}", "payment.notification_repeated", intent.id)
        elif notice.paid:
            self._confirm_and_settle(rail, notice.key)
        return Ack(rail.ack_body, rail.ack_media_type)

    # --- 3. the query fallback --------------------------------------------------------------
    def poll(self, session_id: str, kiosk_id: str | None) -> dict[str, Any]:
        """What the shopper's screen shows while paying in the wallet; asks the gateway when due.

        The intent is read before the cart: the sale writes both at once, so a settled intent
        read first means the cart read after it shows the order."""
        intent = self._latest(session_id, kiosk_id)
        if intent is None or not isinstance(self.checkout.providers.get(intent.provider), Rail):
            raise NotFound("no in-app payment for this cart", code="no_inapp_payment")
        if intent.status == "authorizing":
            if time.monotonic() - self._asked.get(intent.id, 0.0) >= self.settings.checkout.rails.poll_interval_s:
                self._asked[intent.id] = time.monotonic()
                self._ask_quietly(intent)
            intent = self._latest(session_id, kiosk_id) or intent
        with self.store.read() as s:
            ks = self.sessions.load_row(s, session_id, kiosk_id, for_change=False)
            if ks.order_id:
                return {"status": "paid", "order": self.checkout.result(s, ks.order_id).model_dump()}
        if intent.status == "authorizing":
            return {"status": "waiting", "payment_id": intent.id, "qr_code": self._qr.get(intent.id)}
        return {"status": "failed", "payment_id": intent.id, "error": intent.error_code}

    def _latest(self, session_id: str, kiosk_id: str | None) -> PaymentIntent | None:
        with self.store.read() as s:
            self.sessions.load_row(s, session_id, kiosk_id, for_change=False)  # exists, and is this kiosk's
            return s.exec(
                select(PaymentIntent)
                .where(PaymentIntent.session_id == session_id)
                .order_by(col(PaymentIntent.created_at).desc())
            ).first()

    def sweep(self) -> int:
        """Ask the gateway about every in-app payment still open (housekeeping, and at start-up)."""
        with self.store.read() as s:
            rows = list(
                s.exec(
                    select(PaymentIntent)
                    .join(KioskSession, col(KioskSession.id) == col(PaymentIntent.session_id))
                    .where(PaymentIntent.status == "authorizing", KioskSession.status == "paying")
                )
            )
        return sum(self._ask_quietly(i) for i in rows if isinstance(self.checkout.providers.get(i.provider), Rail))

    def _ask_quietly(self, intent: PaymentIntent) -> bool:
        """One intent's question to the gateway; a failure waits for the next round, it stops nothing else."""
        try:
            return self._ask(intent)
        except Exception as exc:
            log.warning("in-app payment %s: not settled this round (%r)", intent.id, exc)
            return False

    def _ask(self, intent: PaymentIntent) -> bool:
        rail = self.rail(intent.provider)
        answer = rail.ask(intent.id)
        if answer.kind == "paid" and answer.amount_minor is not None:
            return self._settle(rail, intent.id, answer.ref, answer.amount_minor, "query")
        with self.sessions.locks.hold(intent.session_id):  # a notification settling it waits, or went first
            if self._open(intent.id) is None:
                return False
            if answer.kind == "closed":
                self._fail(intent.id, "payment_cancelled")
                return True
            age = (utcnow() - as_utc(intent.created_at)).total_seconds()
            wait = self.settings.checkout.rails.inapp_wait_s
            # the order carries the same expiry at the gateway: one never scanned is gone after it
            if age >= wait and ((answer.kind == "absent" and age >= wait + EXPIRY_GRACE_S) or rail.close(intent.id)):
                self._fail(intent.id, "payment_not_confirmed")  # closed before anyone paid: nothing taken
                return True
        return False

    def _open(self, key: str) -> PaymentIntent | None:
        """The intent when it is still an open in-app payment (its cart frozen for it), else None."""
        with self.store.read() as s:
            intent = s.get(PaymentIntent, key)
            ks = cartrows.session(s, intent.session_id) if intent else None
        ok = intent is not None and ks is not None and intent.status == "authorizing" and not intent.order_id
        return intent if ok and ks is not None and ks.status == "paying" else None

    # --- completing or failing --------------------------------------------------------------
    def _confirm_and_settle(self, rail: Rail, key: str) -> bool:
        """A notification says paid: believe the gateway's own answer now, not a message that may be
        stale or replayed (the box may have closed or refunded the trade since it was sent)."""
        answer = rail.ask(key)
        if answer.kind != "paid" or answer.amount_minor is None:
            return False
        return self._settle(rail, key, answer.ref, answer.amount_minor, "notification")

    def _settle(self, rail: Rail, key: str, ref: str, amount_minor: int, source: str) -> bool:
        """The gateway holds the money: write the sale once; if it cannot be written, give it back."""
        with self.store.read() as s:
            first = s.get(PaymentIntent, key)
        if first is None:
            return False
        with self.sessions.locks.hold(first.session_id):
            with self.store.read() as s:
                intent = s.get(PaymentIntent, key)
            if intent is None or intent.order_id:
                return False
            if intent.status in ("failed", "reversed"):  # given up, yet paid: the money goes back
                log.warning("payment %s was paid after it was given up; refunding it", key)
                self._refund(rail, key)
                return False
            if self._open(key) is None:
                return False  # a kiosk payment in flight: its own checkout settles it
            if amount_minor != intent.amount_minor:
                if self._refund(rail, key):
                    self._fail(key, "amount_mismatch", status="reversed")
                return False
            try:
                order_id = self.checkout.commit_order(intent, ref, f"gateway:{rail.name}:{source}")
            except ResourceFault:
                raise  # not written: the gateway's retry or the next sweep tries again
            except EdgeError as exc:
                log.warning("payment %s was paid but the sale cannot be written (%s); refunding it", key, exc.code)
                if self._refund(rail, key):
                    self._fail(key, exc.code, status="reversed")
                return False  # not confirmed: the next sweep finds it paid and tries again
            with self.store.read() as s:
                ks = cartrows.session(s, intent.session_id)
        assert ks is not None
        self._asked.pop(key, None)
        self.checkout.capturer.submit(key, order_id)
        self.checkout.announce_paid(order_id, ks, intent.amount_minor, intent.currency)
        return True

    @staticmethod
    def _refund(rail: Rail, key: str) -> bool:
        """Give back what the gateway holds for this payment, once (the refund's id is derived from
        the payment's, so a retry is the same refund); True once the gateway confirmed it."""
        try:
            rail.reverse(key, None, idempotency_key=f"r-{key}")
        except PaymentTimeout:
            return False
        except PaymentFailed:  # nothing paid to give back
            return True
        return True

    def _fail(self, key: str, code: str, status: str = "failed") -> None:
        """The payment is over without a sale: record it and unfreeze the cart for another way to pay."""
        with self.store.write() as s:
            intent = s.get(PaymentIntent, key)
            if intent is None or intent.status != "authorizing":
                return
            intent.status, intent.error_code, intent.updated_at = status, code[:48], utcnow()
            s.add(intent)
            s.outbox("orders", f"payment.{status}", {"payment_id": key, "error": code, "session_id": intent.session_id})
            ks = self._set_status(s, intent.session_id, "paying", "open")
        self._asked.pop(key, None)
        self._changed(ks, "payment_failed")
        if ks is not None:  # no sale: free the coupons its start reserved at the chain
            chaincoupons.release(self.checkout.coupons(), chaincoupons.holder(self.settings, ks.id), ks.coupons)

    @staticmethod
    def _set_status(s: Any, session_id: str, old: str, new: str) -> KioskSession | None:
        ks = s.get(KioskSession, session_id)
        if ks is None or ks.status != old:
            return None
        ks.status, ks.version, ks.updated_at = new, ks.version + 1, utcnow()
        s.add(ks)
        return ks  # type: ignore[no-any-return]

    def _changed(self, ks: KioskSession | None, reason: str) -> None:
        if ks is not None:
            self.bus.publish(CartChanged(session_id=ks.id, kiosk_id=ks.kiosk_id, version=ks.version, reason=reason))
