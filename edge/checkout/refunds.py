"""Money going back: staff void and refund, each paid out at most once.

The sequence, and why a retry or a crash never pays out twice:

1. Under the order's lock, ONE transaction writes a `Refund` row with status "pending" (the plan:
   which lines, how many units, how much; for a void, the passes are revoked and the payment is
   marked "voiding" so the capture worker leaves it alone).
2. The provider is called with that row's id as the idempotency key. The network answers a
   repeated key with its first answer and moves no money again.
3. ONE transaction applies the plan (lines, order, payment, coupons, outbox, audit) and marks the
   refund "done". If that write fails, the refund stays pending: the next refund or void of the
   order, and the housekeeping loop (and startup), re-send the same key and finish it.

A definite refusal from the provider (any EdgeError but a timeout) marks the refund "failed" and
undoes step 1. An unknown outcome (timeout, anything else) leaves it pending; staff are told it
will complete, and no other refund of that order starts until it has.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from edge.checkout.models import CouponRedemption, ExitPass, Order, OrderLine, PaymentIntent, Refund
from edge.checkout.payments import ChargeState, PaymentProvider, PaymentTimeout
from edge.checkout.priced import round_half_up
from edge.checkout.settings import CheckoutConfig
from edge.platform.errors import Conflict, EdgeError, InvalidInput, NotFound, ResourceFault
from edge.platform.locks import KeyedLocks
from edge.platform.store import ReadTx, Store
from edge.platform.timeutil import utcnow

log = logging.getLogger(__name__)


class RefundPending(EdgeError):
    """The network did not confirm; the refund is recorded and will complete by itself."""

    status = 502
    code = "refund_pending"


@contextmanager
def _refunded_nothing() -> Iterator[None]:
    """A full disk or busy database during a refund: once money moves, a failure to record it is
    RefundPending instead, so a resource fault that escapes means nothing was paid out."""
    try:
        yield
    except ResourceFault as fault:
        fault.details.setdefault("refunded", False)
        raise


def _plan_key(lines: list[dict[str, Any]]) -> list[tuple[int, int]] | None:
    """What a refund asks for, units summed per line: the same request in any shape matches."""
    units: dict[int, int] = {}
    try:
        for w in lines:
            units[int(w["line_no"])] = units.get(int(w["line_no"]), 0) + int(w["qty"])
    except (KeyError, TypeError, ValueError):
        return None
    return sorted(units.items())


class Refunds:
    settings: CheckoutConfig
    store: Store
    locks: KeyedLocks  # "order:<id>" while a void or refund of it runs
    providers: dict[str, PaymentProvider]
    # Another box serving the store's gates revokes the order's pass before a void (passes.py).
    revoke_at_gate: Callable[[str], None] = staticmethod(lambda _order_id: None)

    def _payment(self, order_id: str) -> tuple[PaymentIntent, PaymentProvider]:
        with self.store.read() as s:
            pay = s.exec(select(PaymentIntent).where(PaymentIntent.order_id == order_id)).first()
        if pay is None:
            raise NotFound("no such order", code="unknown_order")
        return pay, self.providers[pay.provider]

    # --- the use cases --------------------------------------------------------------------
    def void(self, order_id: str, staff: str, reason: str) -> dict[str, Any]:
        """Cancel a whole sale: money back, exit pass revoked, coupons released."""
        pay, prov = self._payment(order_id)
        with _refunded_nothing(), self.locks.hold("order:" + order_id):
            settled = self._settle_order(order_id)
            with self.store.read() as s:
                order = s.get(Order, order_id)
                if order is not None and order.status == "paid" and not order.refunded_minor:
                    self.revoke_at_gate(order_id)  # a network call, before the write; raises if it cannot
            with self.store.write() as s:
                order = s.get(Order, order_id)
                if order is None:
                    raise NotFound("no such order", code="unknown_order")
                done = [r for r in settled if r["kind"] == "void"]
                if done and order.status == "voided":  # a retried void whose answer was lost
                    return {**done[-1]["result"], "replayed": True}
                if order.status != "paid" or order.refunded_minor:
                    raise Conflict(f"an order that is {order.status} cannot be voided; refund it", code="not_voidable")
                if s.exec(
                    select(ExitPass).where(ExitPass.order_id == order_id, col(ExitPass.used_at).is_not(None))
                ).first():
                    raise Conflict("the shopper already left with this order; refund it instead", code="not_voidable")
                rf = Refund(order_id=order_id, kind="void", amount_minor=order.total_minor, actor=staff, reason=reason)
                s.add(rf)
                p = s.get(PaymentIntent, pay.id)
                assert p is not None
                p.status, p.updated_at = "voiding", utcnow()  # the capture worker leaves it alone
                s.add(p)
                s.exec(update(ExitPass).where(col(ExitPass.order_id) == order_id).values(revoked=True))  # type: ignore[call-overload]
            return self._send(prov, pay.id, rf.id, None)

    def refund(self, order_id: str, staff: str, lines: list[dict[str, int]] | None, reason: str) -> dict[str, Any]:
        """Refund whole lines or some units; each unit's share of the line's net amount is exact."""
        pay, prov = self._payment(order_id)
        with _refunded_nothing(), self.locks.hold("order:" + order_id):
            settled = [r for r in self._settle_order(order_id) if r["kind"] == "refund"]
            with self.store.write() as s:
                order = s.get(Order, order_id)
                if order is None:
                    raise NotFound("no such order", code="unknown_order")
                if order.status == "voided":
                    raise Conflict("a voided order cannot be refunded", code="order_voided")
                p = s.get(PaymentIntent, pay.id)
                assert p is not None
                if p.status != "captured":
                    raise Conflict(
                        "this payment is not captured yet; void the order instead", code="payment_not_captured"
                    )
                if lines is not None:  # the same request again after its answer was lost: that refund
                    for r in settled:
                        if _plan_key(lines) == _plan_key(r["result"]["lines"]):
                            return {**r["result"], "replayed": True}
                plan = self._plan(s, order_id, lines)
                if not plan and settled and lines is None:
                    return {**settled[-1]["result"], "replayed": True}
                if not plan:
                    raise Conflict("nothing is left to refund", code="nothing_to_refund")
                total = sum(int(w["amount_minor"]) for w in plan)
                rf = Refund(order_id=order_id, amount_minor=total, lines=json.dumps(plan), actor=staff, reason=reason)
                s.add(rf)
            return self._send(prov, pay.id, rf.id, total)

    def _plan(self, s: ReadTx, order_id: str, lines: list[dict[str, int]] | None) -> list[dict[str, int]]:
        olines = {ln.line_no: ln for ln in s.exec(select(OrderLine).where(OrderLine.order_id == order_id))}
        wanted = (
            lines
            if lines is not None
            else [
                {"line_no": n, "qty": ln.qty - ln.refunded_qty} for n, ln in olines.items() if ln.qty > ln.refunded_qty
            ]
        )
        asked: dict[int, int] = {}  # a line listed twice is one line with the units summed
        for w in wanted:
            if not isinstance(w, dict) or set(w) - {"line_no", "qty"}:
                raise InvalidInput("each refund line is {line_no, qty}", code="bad_refund_line")
            line_no, qty = int(w.get("line_no", 0)), int(w.get("qty", 0))
            if qty < 1:
                raise InvalidInput(f"line {line_no}: refund at least 1 unit", code="bad_refund_qty")
            asked[line_no] = asked.get(line_no, 0) + qty
        plan: list[dict[str, int]] = []
        for line_no, qty in asked.items():
            ln = olines.get(line_no)
            if ln is None:
                raise NotFound(f"no line {line_no} in this order", code="unknown_line")
            if not 1 <= qty <= ln.qty - ln.refunded_qty:
                raise InvalidInput(
                    f"line {ln.line_no}: refund 1 to {ln.qty - ln.refunded_qty} units", code="bad_refund_qty"
                )
            if qty + ln.refunded_qty == ln.qty:
                amount = ln.net_minor - ln.refunded_minor
            else:
                amount = round_half_up(ln.net_minor * qty, ln.qty)
            plan.append({"line_no": ln.line_no, "qty": qty, "amount_minor": amount})
        return plan

    # --- moving the money, then recording it ----------------------------------------------
    def _send(self, prov: PaymentProvider, pay_id: str, refund_id: str, amount: int | None) -> dict[str, Any]:
        """Step 2 and 3 (the caller holds the order lock and has committed the pending row)."""
        try:
            state = prov.reverse(pay_id, amount, idempotency_key=refund_id)
        except PaymentTimeout as exc:
            log.warning("refund %s: no answer from the network (%s); it stays pending", refund_id, exc.code)
            raise self._pending(refund_id) from None
        except EdgeError as exc:
            self._fail(refund_id, exc.code)
            raise
        except Exception as exc:
            log.exception("refund %s: unexpected provider error; it stays pending", refund_id)
            raise self._pending(refund_id) from exc
        try:
            return self._finish(refund_id, state)
        except Exception as exc:
            log.exception("refund %s: the money moved but the record failed; it stays pending", refund_id)
            raise self._pending(refund_id) from exc

    @staticmethod
    def _pending(refund_id: str) -> RefundPending:
        return RefundPending(
            "the refund is recorded but the payment network has not confirmed it yet; it will be completed "
            "automatically. Do not pay it out another way.",
            details={"refund_id": refund_id},
        )

    def _finish(self, refund_id: str, state: ChargeState) -> dict[str, Any]:
        """Apply a confirmed refund or void to the order, once (a repeat returns the same answer)."""
        with self.store.write() as s:
            rf = s.get(Refund, refund_id)
            assert rf is not None
            order = s.get(Order, rf.order_id)
            p = s.exec(select(PaymentIntent).where(PaymentIntent.order_id == rf.order_id)).first()
            assert order is not None and p is not None
            plan = json.loads(rf.lines)
            if rf.status == "done":
                return self._result(rf, order, plan)
            if rf.kind == "void":
                order.status, order.refunded_minor = "voided", order.total_minor
                s.exec(update(ExitPass).where(col(ExitPass.order_id) == order.id).values(revoked=True))  # type: ignore[call-overload]
                for red in s.exec(select(CouponRedemption).where(CouponRedemption.order_id == order.id)):
                    red.use_key = f"void:{red.id}"  # frees the coupon for another use
                    s.add(red)
                p.status = "reversed"
                p.refunded_minor = (
                    state.refunded_minor if state.status in ("captured", "refunded") else p.captured_minor
                )
                s.outbox(
                    "orders",
                    "order.voided",
                    {"order_id": order.id, "refund_id": rf.id, "by": rf.actor, "reason": rf.reason},
                )
                s.audit(rf.actor, "checkout.order_voided", order.id, reason=rf.reason)
            else:
                for w in plan:
                    row = s.exec(
                        select(OrderLine).where(OrderLine.order_id == order.id, OrderLine.line_no == w["line_no"])
                    ).one()
                    row.refunded_qty += w["qty"]
                    row.refunded_minor += w["amount_minor"]
                    s.add(row)
                order.refunded_minor += rf.amount_minor
                order.status = "refunded" if order.refunded_minor >= order.total_minor else "partially_refunded"
                p.refunded_minor += rf.amount_minor
                s.outbox(
                    "orders",
                    "order.refunded",
                    {
                        "order_id": order.id,
                        "refund_id": rf.id,
                        "amount_minor": rf.amount_minor,
                        "lines": plan,
                        "by": rf.actor,
                    },
                )
                s.audit(rf.actor, "checkout.order_refunded", order.id, amount_minor=rf.amount_minor, reason=rf.reason)
            p.updated_at = utcnow()
            rf.status, rf.settled_at = "done", utcnow()
            s.add_all([order, p, rf])
            return self._result(rf, order, plan)

    @staticmethod
    def _result(rf: Refund, order: Order, plan: list[dict[str, Any]]) -> dict[str, Any]:
        if rf.kind == "void":
            return {"order_id": order.id, "status": "voided", "refunded_minor": order.total_minor}
        return {
            "order_id": order.id,
            "refund_id": rf.id,
            "amount_minor": rf.amount_minor,
            "status": order.status,
            "lines": plan,
        }

    def _fail(self, refund_id: str, error: str) -> None:
        """The provider refused (nothing moved): the refund is failed and a void's changes are undone."""
        with self.store.write() as s:
            rf = s.get(Refund, refund_id)
            if rf is None or rf.status != "pending":
                return
            rf.status, rf.error_code, rf.settled_at = "failed", error[:48], utcnow()
            s.add(rf)
            if rf.kind == "void":
                p = s.exec(select(PaymentIntent).where(PaymentIntent.order_id == rf.order_id)).first()
                if p is not None and p.status == "voiding":
                    p.status, p.updated_at = ("captured" if p.captured_minor else "authorized"), utcnow()
                    s.add(p)
                s.exec(update(ExitPass).where(col(ExitPass.order_id) == rf.order_id).values(revoked=False))  # type: ignore[call-overload]

    # --- recovery -------------------------------------------------------------------------
    def _settle_order(self, order_id: str) -> list[dict[str, Any]]:
        """Finish this order's pending refunds first (caller holds the order lock); refuse while one is unknown."""
        with self.store.read() as s:
            ids = list(
                s.exec(
                    select(Refund.id)
                    .where(Refund.order_id == order_id, Refund.status == "pending")
                    .order_by(col(Refund.created_at))
                )
            )
        out = []
        for rid in ids:
            try:
                kind, result = self._settle_one(rid)
            except (RefundPending, ResourceFault):  # unknown, or not recorded: nothing more may move
                raise
            except EdgeError as exc:  # refused by the network: marked failed, nothing moved
                log.warning("pending refund %s was refused: %s", rid, exc.code)
                continue
            if result is not None:
                out.append({"kind": kind, "result": result})
        return out

    def _settle_one(self, refund_id: str) -> tuple[str, dict[str, Any] | None]:
        """Ask the network by the refund's key; send it (same key) if it never arrived; then record it."""
        with self.store.read() as s:
            rf = s.get(Refund, refund_id)
            pay = s.exec(select(PaymentIntent).where(PaymentIntent.order_id == rf.order_id)).first() if rf else None
        if rf is None or pay is None or rf.status != "pending":
            return ("", None)
        prov = self.providers[pay.provider]
        try:
            state = prov.reversal(pay.id, rf.id)
        except Exception as exc:
            raise self._pending(rf.id) from exc
        if state is None:  # the network never got it: staff were told it would complete, so send it now
            return rf.kind, self._send(prov, pay.id, rf.id, None if rf.kind == "void" else rf.amount_minor)
        return rf.kind, self._finish(rf.id, state)

    def recover_pending(self, min_age_s: float = 0.0) -> int:
        """Finish refunds and voids left pending by a lost answer, a failed write or a crash."""
        cutoff = utcnow() - timedelta(seconds=min_age_s)
        with self.store.read() as s:
            pending = list(
                s.exec(
                    select(Refund.id, Refund.order_id).where(Refund.status == "pending", Refund.created_at <= cutoff)
                )
            )
        done = 0
        for rid, order_id in pending:
            try:
                with self.locks.hold_if_free("order:" + order_id) as free:  # busy: a refund of it is running
                    done += free and self._settle_one(rid)[1] is not None
            except EdgeError as exc:
                log.warning("pending refund %s not settled yet: %s", rid, exc.code)
            except Exception:
                log.exception("pending refund %s not settled yet", rid)
        return done
