"""Read-only transaction search for the dashboard (the `sales` contract): orders, refunds and
voids, newest first. The receipts themselves come from checkout's own receipt endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select

from edge.checkout.models import Attribution, Order, Refund
from edge.platform.store import Store
from edge.platform.timeutil import as_utc


class Ledger:
    """Implements edge.checkout.contract.SalesLedger."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def transactions(self, q: str = "", limit: int = 100) -> list[dict[str, Any]]:
        return search(self.store, q, limit)

    def attributed(self, since: datetime) -> list[dict[str, Any]]:
        with self.store.read() as s:
            rows = s.exec(
                select(Attribution, Order.status)
                .join(Order, col(Order.id) == col(Attribution.order_id))
                .where(col(Attribution.created_at) >= since, col(Order.status) != "voided")
            ).all()
        return [
            {"order_id": a.order_id, "gtin": a.gtin, "style": a.style, "qty": a.qty, "net_minor": a.net_minor,
             "guide_id": a.guide_id, "guide_store": a.guide_store, "via": a.via, "at": as_utc(a.created_at).isoformat()}
            for a, _status in rows
        ]  # fmt: skip


def search(store: Store, q: str = "", limit: int = 100) -> list[dict[str, Any]]:
    q = q.strip()
    with store.read() as s:
        stmt = select(Order).order_by(col(Order.created_at).desc()).limit(limit)
        if q:
            like = f"%{q}%"
            stmt = stmt.where(
                or_(
                    col(Order.id).like(like),
                    col(Order.kiosk_id).like(like),
                    col(Order.member_id).like(like),
                    col(Order.status) == q,
                )
            )
        orders = list(s.exec(stmt))
        ids = [o.id for o in orders]
        refunds = list(s.exec(select(Refund).where(col(Refund.order_id).in_(ids)))) if ids else []
    rows: list[dict[str, Any]] = []
    for o in orders:
        rows.append(
            {
                "kind": "void" if o.status == "voided" else "order",
                "id": o.id,
                "order_id": o.id,
                "time": as_utc(o.created_at).isoformat(),
                "kiosk_id": o.kiosk_id,
                "member_id": o.member_id,
                "amount_minor": o.total_minor,
                "refunded_minor": o.refunded_minor,
                "currency": o.currency,
                "status": o.status,
            }
        )
    by_order = {o.id: o for o in orders}
    for r in refunds:
        if r.kind == "void":
            continue  # the order's own row already says "void": one line per void
        o = by_order[r.order_id]
        failed = r.status == "failed"  # nothing moved: never shown as money going back
        rows.append(
            {
                "kind": "refund_failed" if failed else "refund_pending" if r.status == "pending" else "refund",
                "id": r.id,
                "order_id": r.order_id,
                "time": as_utc(r.created_at).isoformat(),
                "kiosk_id": o.kiosk_id,
                "member_id": o.member_id,
                "amount_minor": 0 if failed else -r.amount_minor,
                "refunded_minor": 0,
                "currency": o.currency,
                "status": f"failed: {r.error_code}" if failed else (r.reason or r.status),
            }
        )
    rows.sort(key=lambda row: str(row["time"]), reverse=True)
    return rows[:limit]
