"""The hot read of a cart: its lines joined to the catalog in one statement, as plain tuples.

Every cart change re-prices the cart; building ORM objects for each line and product cost more
than the pricing itself, so this read goes through SQL directly. It runs on the caller's
connection, so it sees the caller's flushed changes and one snapshot of the catalog.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import text

from edge.platform.store import ReadTx
from edge.platform.timeutil import as_utc

_SQL = text(
    "SELECT l.id, l.code, l.gtin, l.qty, l.measure_kind, l.measure_value, p.name, p.price_minor, "
    "p.member_price_minor, p.category, p.tax_class, p.weighed, p.age_restricted, l.expires_on, l.added_at "
    "FROM cart_line AS l JOIN catalog_product AS p ON p.gtin = l.gtin "
    "WHERE l.session_id = :sid ORDER BY l.id"
)


class CartRow(NamedTuple):
    line_id: int
    code: str
    gtin: str
    qty: int
    measure_kind: str
    measure_value: int
    name: str
    price_minor: int  # per unit, or per kg
    member_price_minor: int | None
    category: str
    tax_class: str
    weighed: bool
    age_restricted: bool
    expires_on: date | None
    added_at: datetime


def read_cart(s: ReadTx, session_id: str) -> list[CartRow]:
    """Lines whose product is still in the catalog (a withdrawn product is not sold)."""
    rows = s.run(_SQL, {"sid": session_id}).all()
    return [_row(r) for r in rows]


def _row(r: Any) -> CartRow:
    return CartRow(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
        bool(r[11]), bool(r[12]), _day(r[13]), _moment(r[14]),
    )  # fmt: skip


def _day(value: object) -> date | None:
    """SQLite returns a DATE read through text() as its ISO string."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _moment(value: object) -> datetime:
    """A DATETIME read through text() is its ISO string (UTC, as it was written)."""
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))
