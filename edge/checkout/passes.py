"""Exit passes at the gate: signature, expiry, single use (atomically), then the gate opens.

The pass is marked used with a conditional UPDATE (`used_at IS NULL`), so two gates reading
the same pass at the same instant open once. The gate command is queued for MQTT in the same
transaction as the use; every refusal is audited and counted by reason.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter
from sqlalchemy import Table, bindparam, select, update

from edge.bus import Bus
from edge.checkout import tasks
from edge.checkout.events import GateOpenEvent, PassRefused
from edge.checkout.models import ExitPass, Order, OrderLine
from edge.checkout.schemas import GateOut
from edge.checkout.settings import CheckoutConfig
from edge.platform.codes import Codes, PassRefusal
from edge.platform.errors import Conflict, EdgeError, Forbidden, Gone, InvalidInput
from edge.platform.observability import escape_text
from edge.platform.store import Store
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
    def __init__(self, settings: CheckoutConfig, store: Store, bus: Bus, codes: Codes) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.codes = codes

    def verify(self, gate_id: str, text: str) -> GateOut:
        """Open the gate for a genuine, unexpired, unused pass; raise a typed refusal otherwise."""
        try:
            claims = self.codes.pass_claims(text)
            pass_id, order_id = claims["p"], claims["o"]
            with self.store.write(priority=INTERACTIVE) as s:
                xp = s.run(_PASS, {"id": pass_id}).first()
                if xp is None or xp.order_id != order_id:
                    raise PassRefusal("unknown", "no such pass")
                if xp.revoked or xp.status is None or xp.status == "voided":
                    raise PassRefusal("revoked", "order voided")
                if as_utc(xp.expires_at) < utcnow():
                    raise PassRefusal("expired", "past its expiry")
                now = utcnow()
                res = s.run(_USE, {"b_id": pass_id, "b_at": now, "b_gate": gate_id[:64]})
                if res.rowcount != 1:
                    raise PassRefusal("used", "already used")
                topic = f"retail/{self.settings.store.id}/gate/{gate_id}/cmd"
                s.mqtt(
                    topic,
                    {
                        "cmd": "open",
                        "order_id": order_id,
                        "pass_id": pass_id,
                        "audit": bool(xp.audit_flag),
                        "ts": now.isoformat(),
                    },
                )
                s.outbox(
                    "orders",
                    "exit_pass.used",
                    {"order_id": order_id, "pass_id": pass_id, "gate_id": gate_id, "audit": bool(xp.audit_flag)},
                )
                s.audit(f"device:{gate_id}", "checkout.pass_used", order_id, audit_flag=bool(xp.audit_flag))
                flagged = bool(xp.audit_flag)
                if flagged:  # the rescan list, to the staff handhelds, durably with the use
                    items = [dict(r._mapping) for r in s.run(_RESCAN, {"oid": order_id})]
                    s.mqtt(f"retail/{self.settings.store.id}/checkout/{gate_id}/alert",
                        {"type": "checkout.exit_audit", "schema": 1, "store": self.settings.store.id,
                         "gate_id": gate_id, "order_id": order_id, "reasons": xp.audit_reasons.split(","),
                         "items": items, "at": now.isoformat()},
                    )  # fmt: skip
                    tasks.open_task(s, self.settings.store.id, self.bus, "exit_audit", gate_id, order_id=order_id,
                                    detail={"reasons": xp.audit_reasons.split(","), "items": items})  # fmt: skip
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
