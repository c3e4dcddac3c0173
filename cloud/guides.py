"""Guides' credit across the chain, summed per guide, their store, the store that made the sale
and how the credit was earned:

- `code` / `fitting`: the attribution each store's `order.paid` events carry
  (edge/checkout/attribution.py); a shopper who scanned a guide's code in one store and paid in
  another is credited here, the code naming the guide's store;
- `cloud`: the cloud completes the rest: a member served by a guide (a `guide.served` event: the
  member's code and the guide's code in one cart, paid or not) who buys without any guide's
  credit within SERVED_DAYS, in any store, credits that guide (the latest one who served them).

Voided orders are left out. Malformed entries (an event is the store's word, checked loosely
when ingested) are skipped, never a failure.
"""

from __future__ import annotations

from typing import Any

import psycopg

SERVED_DAYS = 7
_NOT_VOIDED = """NOT EXISTS (SELECT 1 FROM edge_event v WHERE v.kind = 'order.voided' AND v.store_id = e.store_id
                      AND v.payload->>'order_id' = e.payload->>'order_id')"""
_ATTRIBUTED = """
SELECT a->>'guide_store', a->>'guide_id', e.store_id, a->>'via',
       count(DISTINCT e.payload->>'order_id'),
       sum(CASE WHEN jsonb_typeof(a->'qty') = 'number' THEN (a->>'qty')::numeric ELSE 0 END),
       sum(CASE WHEN jsonb_typeof(a->'net_minor') = 'number' THEN (a->>'net_minor')::numeric ELSE 0 END)
  FROM edge_event e
 CROSS JOIN LATERAL jsonb_array_elements(
       CASE WHEN jsonb_typeof(e.payload->'attribution') = 'array' THEN e.payload->'attribution' ELSE '[]' END) a
 WHERE e.kind = 'order.paid' AND e.created_at > now() - make_interval(days => %(days)s)
   AND jsonb_typeof(a) = 'object' AND jsonb_typeof(a->'guide_id') = 'string'
   AND {not_voided}
 GROUP BY 1, 2, 3, 4
"""
_CREDITED = """EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(e.payload->'attribution') = 'array'
                   THEN e.payload->'attribution' ELSE '[]' END) a
                WHERE jsonb_typeof(a) = 'object' AND jsonb_typeof(a->'guide_id') = 'string')"""
_COMPLETED = """
SELECT s.payload->>'guide_store', s.payload->>'guide_id', e.store_id, 'cloud', count(DISTINCT e.payload->>'order_id'),
       sum((SELECT coalesce(sum(CASE WHEN jsonb_typeof(l->'qty') = 'number' THEN (l->>'qty')::numeric END), 0)
              FROM jsonb_array_elements(CASE WHEN jsonb_typeof(e.payload->'pricing'->'lines') = 'array'
                                        THEN e.payload->'pricing'->'lines' ELSE '[]' END) l)),
       sum(CASE WHEN jsonb_typeof(e.payload->'pricing'->'total_minor') = 'number'
                THEN (e.payload->'pricing'->>'total_minor')::numeric ELSE 0 END)
  FROM edge_event e
 CROSS JOIN LATERAL (
       SELECT g.payload FROM edge_event g
        WHERE g.kind = 'guide.served' AND g.payload->>'member_id' = e.payload->>'member_id'
          AND jsonb_typeof(g.payload->'guide_id') = 'string'
          AND g.created_at <= e.created_at AND g.created_at > e.created_at - make_interval(days => %(served)s)
        ORDER BY g.created_at DESC LIMIT 1) s
 WHERE e.kind = 'order.paid' AND e.created_at > now() - make_interval(days => %(days)s)
   AND jsonb_typeof(e.payload->'member_id') = 'string' AND NOT {credited} AND {not_voided}
 GROUP BY 1, 2, 3, 4
"""


def report(conn: psycopg.Connection[Any], days: int) -> list[dict[str, Any]]:
    params = {"days": days, "served": SERVED_DAYS}
    with conn.transaction():  # first: the pool rolls back whatever a request leaves open
        rows = conn.execute(_ATTRIBUTED.replace("{not_voided}", _NOT_VOIDED), params).fetchall()
        rows += conn.execute(
            _COMPLETED.replace("{credited}", _CREDITED).replace("{not_voided}", _NOT_VOIDED), params
        ).fetchall()
    out = [
        {"guide_store": r[0] or "", "guide_id": r[1], "sold_in": r[2], "via": r[3], "orders": int(r[4]),
         "items": int(r[5]), "sales_minor": int(r[6])}
        for r in rows
    ]  # fmt: skip
    return sorted(out, key=lambda r: (r["guide_store"], r["guide_id"], r["sold_in"], r["via"]))
