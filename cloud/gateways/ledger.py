"""The ledger's records: what a gateway knows about each out_trade_no and each refund.

Money is integer fen throughout; `yuan` is only for the wire. `paid` stays true once money was
taken, so `left_minor` (taken minus given back) is what the shopper is really out of pocket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8))  # both gateways state times in Beijing time


def yuan(amount_minor: int) -> str:
    """Fen as the decimal yuan string the wire carries ("12.30")."""
    sign = "-" if amount_minor < 0 else ""
    return f"{sign}{abs(amount_minor) // 100}.{abs(amount_minor) % 100:02d}"


@dataclass
class Refund:
    """Money moved back; `answer` is the first reply, replayed when the same request number repeats."""

    out_request_no: str
    amount_minor: int
    via: str  # "refund", "cancel" or "reverse"
    refund_id: str
    answer: dict[str, str] = field(default_factory=dict)


@dataclass
class Trade:
    """One out_trade_no as the gateway sees it. `paid` says money was taken at some point."""

    out_trade_no: str
    trade_no: str
    amount_minor: int
    status: str
    kind: str  # "code" (payment code), "order" (in-app/QR order), "withhold" (agreement), "cancelled"
    key: str = ""
    attach: str = ""
    notify_url: str = ""
    paid: bool = False
    paid_at: datetime | None = None
    due_at: float | None = None  # monotonic time at which a "wait" shopper confirms
    refunds: dict[str, Refund] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def refunded_minor(self) -> int:
        return sum(r.amount_minor for r in self.refunds.values())

    @property
    def left_minor(self) -> int:
        """What can still be refunded: the money taken and not yet given back."""
        return (self.amount_minor if self.paid else 0) - self.refunded_minor
