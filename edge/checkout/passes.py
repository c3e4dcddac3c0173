"""Exit passes at the gate: signature, expiry, single use (atomically), then the gate opens.

The pass is marked used with a conditional UPDATE (`used_at IS NULL`), so two gates reading
the same pass at the same instant open once. The gate command is queued for MQTT in the same
transaction as the use; every refusal is audited and counted by reason. In a store of several
boxes, one serves the gates: the others forward to it, and it records the use of the passes
they issued (gatepeer.py).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy import Table, bindparam, select, update

from edge.bus import Bus
from edge.checkout import tasks
from edge.checkout.events import GateOpenEvent, PassRefused
from edge.checkout.gatepeer import PeerAuth, RemoteGate, revoke_foreign, use_foreign
from edge.checkout.models import ExitPass, Order, OrderLine
from edge.checkout.schemas import GateOut
from edge.checkout.settings import CheckoutConfig
from edge.platform.codes import Codes, PassRefusal
from edge.platform.errors import Conflict, EdgeError, Forbidden, Gone, InvalidInput, Unavailable
from edge.platform.observability import escape_text
from edge.platform.security import SecretStore
from edge.platform.store import Store, Tx
from edge.platform.timeutil import as_utc, utcnow
from edge.platform.writeslot import INTERACTIVE

log = logging.getLogger(__name__)

PASSES_ACCEPTED = Counter("edge_checkout_exit_passes_accepted_total", "Exit passes accepted at a gate")
PASSES_REFUSED = Counter("edge_checkout_exit_passes_refused_total", "Exit passes refused at a gate", ["reason"])

_XP: Table = ExitPass.__table__  # type: ignore[attr-defined]
_ORDER: Table = Order.__table__  # type: ignore[attr-defined]
_LINES: Table = OrderLine.__table__  # type: ignore[attr-defined]
_RESCAN = select(_LINES.c.gtin, _LINES.c.name, _LINES.c.qty).where(_LINES.c.order_id == bindparam("oid"))
# One read of the pass with its order's status (prebuilt: every shopper leaving passes here).
_PASS = (
    select(_XP.c.order_id, _XP.c.revoked, _XP.c.expires_at, _XP.c.audit_flag, _XP.c.audit_reasons, _ORDER.c.status)
    .select_from(_XP.outerjoin(_ORDER, _ORDER.c.id == _XP.c.order_id))
    .where(_XP.c.id == bindparam("id"))
)
_USE = (
    update(_XP)
    .where(_XP.c.id == bindparam("b_id"), _XP.c.used_at.is_(None))
    .values(used_at=bindparam("b_at"), gate_id=bindparam("b_gate"))
)

_ERRORS: dict[str, type[EdgeError]] = {
    "malformed": InvalidInput,
    "forged": Forbidden,
    "expired": Gone,
    "used": Conflict,
    "revoked": Conflict,
    "unknown": Forbidden,
}
_SENTENCES = {
    "malformed": "this is not an exit pass",
    "forged": "this exit pass is not genuine",
    "expired": "this exit pass has expired; ask staff",
    "used": "this exit pass has already been used",
    "revoked": "this order was voided; ask staff",
    "unknown": "this exit pass does not match an order",
}


class Gate:
    def __init__(self, settings: CheckoutConfig, store: Store, bus: Bus, codes: Codes, secrets: SecretStore) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.codes = codes
        self.peers = PeerAuth(secrets, settings.store.node)
        # Another box serves this store's gates: checks and voids go there (None: this box does).
        self.remote = RemoteGate(settings.checkout, self.peers) if settings.checkout.gate_box_url else None

    def verify(self, gate_id: str, text: str) -> GateOut:
        """Open the gate for a genuine, unexpired, unused pass; raise a typed refusal otherwise."""
        if self.remote is not None:
            return self._forward(gate_id, text)
        try:
            claims = self.codes.pass_claims(text)
            pass_id, order_id = claims["p"], claims["o"]
            with self.store.write(priority=INTERACTIVE) as s:
                now = utcnow()
                xp = s.run(_PASS, {"id": pass_id}).first()
                if xp is None and claims.get("b", self.codes.box) != self.codes.box:
                    use_foreign(s, claims, gate_id, now)  # another box of the store issued it
                    reasons = str(claims.get("a", ""))
                else:
                    reasons = self._use_own(s, xp, claims, gate_id, now)
                flagged = bool(reasons)
                topic = f"retail/{self.settings.store.id}/gate/{gate_id}/cmd"
                s.mqtt(
                    topic,
                    {"cmd": "open", "order_id": order_id, "pass_id": pass_id, "audit": flagged, "ts": now.isoformat()},
                )
                s.outbox(
                    "orders",
                    "exit_pass.used",
                    {"order_id": order_id, "pass_id": pass_id, "gate_id": gate_id, "audit": flagged},
                )
                s.audit(f"device:{gate_id}", "checkout.pass_used", order_id, audit_flag=flagged)
                if flagged:  # the rescan list, to the staff handhelds, durably with the use
                    # A pass of another box: its lines are on that box; staff rescan against the receipt.
                    items = [dict(r._mapping) for r in s.run(_RESCAN, {"oid": order_id})]
                    s.mqtt(f"retail/{self.settings.store.id}/checkout/{gate_id}/alert",
                        {"type": "checkout.exit_audit", "schema": 1, "store": self.settings.store.id,
                         "gate_id": gate_id, "order_id": order_id, "reasons": reasons.split(","),
                         "items": items, "at": now.isoformat()},
                    )  # fmt: skip
                    tasks.open_task(s, self.settings.store.id, self.bus, "exit_audit", gate_id, order_id=order_id,
                                    detail={"reasons": reasons.split(","), "items": items})  # fmt: skip
        except PassRefusal as refusal:
            self._refused(gate_id, refusal, text)
            raise _ERRORS[refusal.reason](_SENTENCES[refusal.reason], code=f"pass_{refusal.reason}") from None
        PASSES_ACCEPTED.inc()
        self.bus.publish(
            GateOpenEvent(
                store_id=self.settings.store.id,
                gate_id=gate_id,
                order_id=order_id,
                pass_id=pass_id,
                audit=flagged,
            )
        )
        return GateOut(open=True, order_id=order_id, audit=flagged)

    @staticmethod
    def _use_own(s: Tx, xp: Any, claims: dict[str, Any], gate_id: str, now: datetime) -> str:
        """The single use of a pass this box issued; returns its audit reasons ("" for none)."""
        if xp is None or xp.order_id != claims["o"]:
            raise PassRefusal("unknown", "no such pass")
        if xp.revoked or xp.status is None or xp.status == "voided":
            raise PassRefusal("revoked", "order voided")
        if as_utc(xp.expires_at) < now:
            raise PassRefusal("expired", "past its expiry")
        if s.run(_USE, {"b_id": claims["p"], "b_at": now, "b_gate": gate_id[:64]}).rowcount != 1:
            raise PassRefusal("used", "already used")
        return str(xp.audit_reasons) if xp.audit_flag else ""

    # --- several boxes in one store ---------------------------------------------------------
    def _forward(self, gate_id: str, text: str) -> GateOut:
        """A gate on this box, a store whose gates another box serves: that box decides."""
        assert self.remote is not None
        answer = self.remote.call("/api/peer/gate/verify", {"gate_id": gate_id, "text": text})
        try:
            out = GateOut.model_validate(answer)
        except ValidationError:
            raise Unavailable("the gate box gave an answer this box cannot read", code="gate_box_unreachable") from None
        try:
            claims = self.codes.pass_claims(text)
        except PassRefusal:
            claims = {}
        if claims.get("b") == self.codes.box:  # this box's own row, for its receipts and phone pages
            with self.store.write(durable=False) as s:
                s.run(_USE, {"b_id": claims["p"], "b_at": utcnow(), "b_gate": gate_id[:64]})
        PASSES_ACCEPTED.inc()
        self.bus.publish(GateOpenEvent(store_id=self.settings.store.id, gate_id=gate_id, order_id=out.order_id,
                                       pass_id=str(claims.get("p", "")), audit=out.audit))  # fmt: skip
        return out

    def peer_verify(self, token: str, body: bytes) -> GateOut:
        """A gate check forwarded by another box of this store."""
        _box, payload = self._peer(token, body)
        gate_id, text = payload.get("gate_id"), payload.get("text")
        if not isinstance(gate_id, str) or not 0 < len(gate_id) <= 64 or not isinstance(text, str):
            raise InvalidInput("gate_id (1-64 characters) and text are required", code="invalid_body")
        return self.verify(gate_id, text)

    def peer_revoke(self, token: str, body: bytes) -> dict[str, bool]:
        """Another box voids an order: its pass must no longer open a gate (409 if it already has)."""
        box, payload = self._peer(token, body)
        pass_id, order_id = payload.get("pass_id"), payload.get("order_id")
        if not all(isinstance(v, str) and 0 < len(v) <= 36 for v in (pass_id, order_id)):
            raise InvalidInput("pass_id and order_id are required", code="invalid_body")
        with self.store.write(priority=INTERACTIVE) as s:
            if not revoke_foreign(s, box, str(pass_id), str(order_id), utcnow()):
                raise Conflict("the shopper already left with this order; refund it instead", code="not_voidable")
            s.audit(f"box:{box}", "checkout.pass_revoked", str(order_id))
        return {"revoked": True}

    def _peer(self, token: str, body: bytes) -> tuple[str, dict[str, Any]]:
        if self.remote is not None:
            raise Conflict("this box does not serve the store's gates", code="not_gate_box")
        return self.peers.check(token, body)

    def revoke_at_gate_box(self, order_id: str) -> None:
        """Before a void: another box serves the gates, so the pass is revoked there first."""
        if self.remote is None:
            return
        with self.store.read() as s:
            xp = s.run(select(_XP.c.id, _XP.c.used_at).where(_XP.c.order_id == order_id)).first()
        if xp is not None and xp.used_at is None:
            self.remote.call("/api/peer/passes/revoke", {"order_id": order_id, "pass_id": xp.id})

    def _refused(self, gate_id: str, refusal: PassRefusal, text: str) -> None:
        PASSES_REFUSED.labels(refusal.reason).inc()
        log.info(
            "exit pass refused at %s: %s (%s)",
            escape_text(gate_id),
            refusal.reason,
            escape_text(text[:40] if isinstance(text, str) else ""),
        )
        # Not fsynced: a refusal changes nothing (the pass, the order and the money stay as they
        # were), so a power cut may lose this last audit line, never a sale or a pass's single use.
        with self.store.write(durable=False) as s:
            s.audit(f"device:{gate_id}", "checkout.pass_refused", gate_id, reason=refusal.reason)
            s.outbox("orders", "exit_pass.refused", {"gate_id": gate_id, "reason": refusal.reason})
        self.bus.publish(PassRefused(gate_id=gate_id, reason=refusal.reason))
