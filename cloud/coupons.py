"""Chain-wide single use of coupons: the cloud is the one authority on whether a use is taken.

A box reserves a coupon's use key inside its checkout (a short deadline), before any money is
asked for; the reservation becomes a redemption when that box's `order.paid` event arrives
(the order's own event, so the redemption commits with the order), and goes back when the box
releases it (the payment failed), when it lapses (the box died mid-checkout), or when an
`order.voided` event arrives. A box that could not reach the cloud redeems by its coupon's
offline policy and says so in the order's event; such a use that collides with another is
recorded in `coupon_over_use`, the reconciliation report.

Every write is one PostgreSQL transaction with the unique use key as the arbiter, so any number
of receivers can serve it: no lock, no consensus of our own.
"""

from __future__ import annotations

import json
from typing import Any, TypeGuard

import psycopg

Conn = psycopg.Connection[Any]

SCHEMA = """
CREATE TABLE IF NOT EXISTS coupon_use (
    use_key text PRIMARY KEY,
    coupon_id text NOT NULL,
    store_id text NOT NULL,
    holder text NOT NULL,
    status text NOT NULL CHECK (status IN ('reserved', 'committed')),
    order_id text,
    reserved_until timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS coupon_over_use (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    use_key text NOT NULL,
    coupon_id text NOT NULL,
    store_id text NOT NULL,
    order_id text NOT NULL,
    chain text NOT NULL,
    first_store_id text,
    first_order_id text,
    found_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (use_key, order_id)
);
"""

_RESERVE = """
INSERT INTO coupon_use (use_key, coupon_id, store_id, holder, status, reserved_until)
VALUES (%(key)s, %(coupon)s, %(store)s, %(holder)s, 'reserved', now() + make_interval(secs => %(ttl)s))
ON CONFLICT (use_key) DO UPDATE
   SET store_id = EXCLUDED.store_id, holder = EXCLUDED.holder, reserved_until = EXCLUDED.reserved_until,
       updated_at = now()
 WHERE coupon_use.status = 'reserved'
   AND (coupon_use.holder = EXCLUDED.holder OR coupon_use.reserved_until < now())
RETURNING use_key
"""

_COMMIT = """
INSERT INTO coupon_use (use_key, coupon_id, store_id, holder, status, order_id)
VALUES (%(key)s, %(coupon)s, %(store)s, %(holder)s, 'committed', %(order)s)
ON CONFLICT (use_key) DO UPDATE
   SET status = 'committed', order_id = EXCLUDED.order_id, store_id = EXCLUDED.store_id,
       reserved_until = NULL, updated_at = now()
 WHERE coupon_use.status = 'reserved'
   AND (coupon_use.holder = EXCLUDED.holder OR coupon_use.reserved_until < now())
RETURNING use_key
"""

MAX_USES = 50  # coupons in one cart


def _text(value: Any, longest: int) -> TypeGuard[str]:
    """A string PostgreSQL can store and index: 1 to `longest` characters, no NUL."""
    return isinstance(value, str) and 0 < len(value) <= longest and "\x00" not in value


def check_keys(body: Any) -> tuple[str, list[str], str] | str:
    """(holder, use keys, order id or "") from a release or commit request, or what is wrong."""
    if not isinstance(body, dict):
        return "the body must be an object"
    holder, keys, order = body.get("holder"), body.get("use_keys"), body.get("order_id", "")
    if not _text(holder, 200):
        return "holder must be a string of 1 to 200 characters"
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_USES or not all(_text(k, 200) for k in keys):
        return f"use_keys must be a list of 1 to {MAX_USES} strings of 1 to 200 characters"
    if order != "" and not _text(order, 64):
        return "order_id must be a string of 1 to 64 characters"
    return holder, keys, order


def check_uses(body: Any) -> tuple[str, list[tuple[str, str]], int] | str:
    """(holder, [(use_key, coupon_id)], ttl_s) from a reserve request, or what is wrong with it."""
    if not isinstance(body, dict):
        return "the body must be an object"
    holder, uses, ttl = body.get("holder"), body.get("uses"), body.get("ttl_s", 300)
    if not _text(holder, 200):
        return "holder must be a string of 1 to 200 characters"
    if not isinstance(uses, list) or not 1 <= len(uses) <= MAX_USES:
        return f"uses must be a list of 1 to {MAX_USES} items"
    out = []
    for use in uses:
        key = use.get("use_key") if isinstance(use, dict) else None
        coupon = use.get("coupon_id") if isinstance(use, dict) else None
        if _text(key, 200) and _text(coupon, 64):
            out.append((key, coupon))
        else:
            return "each use needs a use_key (1 to 200 characters) and a coupon_id (1 to 64)"
    if not isinstance(ttl, int) or not 10 <= ttl <= 3600:
        return "ttl_s must be an integer from 10 to 3600"
    return holder, sorted(set(out)), ttl


class _Taken(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def reserve(conn: Conn, store: str, holder: str, uses: list[tuple[str, str]], ttl: int) -> str | None:
    """Reserve every use or none: None when all are held for `holder`, else the first use key taken."""
    try:
        with conn.transaction():
            for key, coupon in uses:  # sorted: two carts never wait on each other in opposite orders
                params = {"key": key, "coupon": coupon, "store": store, "holder": holder, "ttl": ttl}
                if conn.execute(_RESERVE, params).fetchone() is None:
                    raise _Taken(key)  # rolls back the uses reserved so far
    except _Taken as taken:
        return taken.key
    return None


def release(conn: Conn, store: str, holder: str, keys: list[str]) -> int:
    """Free this store's holder's reservations (never a redeemed use, never another store's)."""
    with conn.transaction():
        cur = conn.execute(
            "DELETE FROM coupon_use WHERE use_key = ANY(%s) AND holder = %s AND store_id = %s AND status = 'reserved'",
            (keys, holder, store),
        )
        return cur.rowcount


def commit(conn: Conn, store: str, holder: str, keys: list[str], order: str) -> int:
    """This store's holder's reservations are redeemed by `order` (the box says so at once)."""
    with conn.transaction():
        cur = conn.execute(
            "UPDATE coupon_use SET status = 'committed', order_id = %s, reserved_until = NULL, updated_at = now() "
            "WHERE use_key = ANY(%s) AND holder = %s AND store_id = %s AND status = 'reserved'",
            (order, keys, holder, store),
        )
        return cur.rowcount


def apply_events(conn: Conn, store: str, events: list[tuple[str, str]]) -> None:
    """Inside the batch's transaction, for the events it newly stored, in their order: (kind,
    payload JSON). `order.paid` commits its coupons' uses (or reports an over-use); `order.voided`
    frees them. A malformed coupon entry is skipped: the event itself is stored, and the batch
    must not fail."""
    for kind, raw in events:
        payload = json.loads(raw)
        raw_order = payload.get("order_id") if isinstance(payload, dict) else None
        if not _text(raw_order, 64):
            continue
        order = str(raw_order)
        if kind == "order.voided":
            conn.execute(
                "DELETE FROM coupon_use WHERE order_id = %s AND store_id = %s AND status = 'committed'", (order, store)
            )
        elif kind == "order.paid" and isinstance(payload.get("coupons"), list):
            uses = []
            for c in payload["coupons"]:
                if not isinstance(c, dict) or c.get("chain") in (None, "local"):
                    continue
                key, coupon, holder = c.get("use_key"), c.get("coupon_id"), c.get("holder") or f"{store}/{order}"
                if _text(key, 200) and _text(coupon, 64) and _text(holder, 200):  # else skipped
                    uses.append((key, coupon, holder, str(c.get("chain"))[:16]))
            for key, coupon, holder, standing in sorted(uses):  # row locks in the order reserve takes them
                _commit_or_report(conn, store, key, coupon, order, holder, standing)


def _commit_or_report(conn: Conn, store: str, key: str, coupon: str, order: str, holder: str, standing: str) -> None:
    params = {"key": key, "coupon": coupon, "store": store, "holder": holder, "order": order}
    if conn.execute(_COMMIT, params).fetchone() is not None:
        return
    first = conn.execute("SELECT store_id, order_id FROM coupon_use WHERE use_key = %s", (key,)).fetchone()
    if first is not None and first[1] == order:
        return  # this order's own use, already committed
    conn.execute(
        "INSERT INTO coupon_over_use (use_key, coupon_id, store_id, order_id, chain, first_store_id, "
        "first_order_id) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (use_key, order_id) DO NOTHING",
        (key, coupon, store, order, standing, first[0] if first else None, first[1] if first else None),
    )


def over_uses(conn: Conn, limit: int = 1000) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT use_key, coupon_id, store_id, order_id, chain, first_store_id, first_order_id, found_at "
        "FROM coupon_over_use ORDER BY id LIMIT %s",
        (limit,),
    ).fetchall()
    names = ("use_key", "coupon_id", "store_id", "order_id", "chain", "first_store_id", "first_order_id", "found_at")
    return [dict(zip(names, (r[i].isoformat() if i == 7 else r[i] for i in range(8)), strict=True)) for r in rows]
