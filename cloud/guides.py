"""Guides' credit across the chain: the attribution each store's `order.paid` events carry
(edge/checkout/attribution.py), summed per guide, their store and the store that made the sale.

A shopper who scanned a guide's code in one store and paid in another is credited to that guide
here: the code names the guide's store, and the sale's store sends it with the order. Voided
orders are left out. Malformed entries (an event is the store's word, checked loosely when
ingested) are skipped, never a failure.
"""

from __future__ import annotations

from typing import Any

import psycopg

_REPORT = """
SELECT a->>'guide_store', a->>'guide_id', e.store_id,
       count(DISTINCT e.payload->>'order_id'),
       sum(CASE WHEN jsonb_typeof(a->'qty') = 'number' THEN (a->>'qty')::numeric ELSE 0 END),
       sum(CASE WHEN jsonb_typeof(a->'net_minor') = 'number' THEN (a->>'net_minor')::numeric ELSE 0 END)
  FROM edge_event e
 CROSS JOIN LATERAL jsonb_array_elements(
       CASE WHEN jsonb_typeof(e.payload->'attribution') = 'array' THEN e.payload->'attribution' ELSE '[]' END) a
 WHERE e.kind = 'order.paid' AND e.created_at > now() - make_interval(days => %(days)s)
   AND jsonb_typeof(a) = 'object' AND jsonb_typeof(a->'guide_id') = 'string'
   AND NOT EXISTS (SELECT 1 FROM edge_event v WHERE v.kind = 'order.voided' AND v.store_id = e.store_id
                      AND v.payload->>'order_id' = e.payload->>'order_id')
 GROUP BY 1, 2, 3
 ORDER BY 1, 2, 3
"""


def report(conn: psycopg.Connection[Any], days: int) -> list[dict[str, Any]]:
    with conn.transaction():  # first: the pool rolls back whatever a request leaves open
        rows = conn.execute(_REPORT, {"days": days}).fetchall()
    return [
        {"guide_store": r[0] or "", "guide_id": r[1], "sold_in": r[2], "orders": int(r[3]), "items": int(r[4]),
         "sales_minor": int(r[5])}
        for r in rows
    ]  # fmt: skip
