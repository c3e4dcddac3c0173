"""Guides get credit: what was tried on with which guide, a guide's personal code, and the
figures the dashboard shows per guide and per style.

Two ways a sale reaches a guide (checkout decides, edge.checkout.attribution):
- the shopper scanned the guide's personal code (a signed QR on the handheld, the chain's
  `guide` ring, so it verifies in every store of the chain) into the cart: every line is theirs;
- a line's item was tried on in a fitting room of this store within the window (the store's
  day by default) in a visit whose call that guide claimed.

Matching a try-on to a sale is by item and time, not by person (a fitting room does not know
who the shopper is), so two shoppers trying the same size and colour on one day can swap
credit; the guide's code is the exact way, and the dashboard says how each sale was credited.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, select

from edge.checkout.contract import CatalogReader, SalesLedger
from edge.fitting.models import FittingCall, FittingItem
from edge.platform.codes import Codes, guide_code
from edge.platform.store import Store
from edge.platform.timeutil import as_utc, utcnow

_ITEM: Table = FittingItem.__table__  # type: ignore[attr-defined]
_CALL: Table = FittingCall.__table__  # type: ignore[attr-defined]
# items tried since a time, each with the guides who claimed a call of its visit (or none)
_TRIED = (
    select(_ITEM.c.gtin, _ITEM.c.visit_id, _CALL.c.guide_id, _CALL.c.claimed_at, _CALL.c.opened_at)
    .select_from(
        _ITEM.outerjoin(
            _CALL,
            and_(_CALL.c.visit_id == _ITEM.c.visit_id, _CALL.c.guide_id.is_not(None), _CALL.c.claimed_at.is_not(None)),
        )
    )
    .where(_ITEM.c.added_at >= bindparam("since"))
)
_TRIED_OF = _TRIED.where(_ITEM.c.gtin.in_(bindparam("gtins", expanding=True)))
LOW_CONVERSION = 0.2  # a style tried this often ...
LOW_CONVERSION_MIN_TRIED = 5  # ... and bought less than this share of the time stands out


class GuideCredit:
    """Implements edge.fitting.contract.TryOns, and the guide-performance figures."""

    def __init__(
        self,
        store: Store,
        codes: Codes,
        store_id: str,
        code_ttl_s: int,
        catalog: Callable[[], CatalogReader | None],
        sales: Callable[[], SalesLedger | None],
    ) -> None:
        self.store = store
        self.codes = codes
        self.store_id = store_id
        self.code_ttl_s = code_ttl_s
        self.catalog = catalog
        self.sales = sales

    def code_for(self, guide_id: str) -> dict[str, Any]:
        """The guide's personal code for the handheld to show as a QR (renewed before it expires)."""
        expires = utcnow() + timedelta(seconds=self.code_ttl_s)
        return {"guide_id": guide_id, "code": guide_code(self.codes, guide_id, self.store_id, self.code_ttl_s),
                "expires_at": expires.isoformat()}  # fmt: skip

    def tried_since(self, gtins: list[str], since: datetime) -> dict[str, str | None]:
        wanted = set(gtins)
        latest: dict[str, tuple[datetime, str] | None] = {}
        with self.store.read() as s:
            rows = s.run(_TRIED_OF, {"since": since, "gtins": sorted(wanted)}).all() if wanted else []
        for gtin, _visit, guide, claimed_at, _opened in rows:
            if gtin not in wanted:
                continue
            if guide is None or claimed_at is None or as_utc(claimed_at) < as_utc(since):
                latest.setdefault(gtin, None)
                continue
            seen = latest.get(gtin)
            if seen is None or as_utc(claimed_at) > seen[0]:
                latest[gtin] = (as_utc(claimed_at), str(guide))
        return {g: (v[1] if v else None) for g, v in latest.items()}

    def performance(self, days: int) -> dict[str, Any]:
        """Per guide and per style: items tried, calls, response time, items bought, conversion
        (tried -> bought) and attributed sales; styles tried often and seldom bought stand out."""
        since = utcnow() - timedelta(days=days)
        with self.store.read() as s:
            tried_rows = s.run(_TRIED, {"since": since}).all()
            calls = s.run(
                select(_CALL.c.guide_id, _CALL.c.opened_at, _CALL.c.claimed_at).where(
                    _CALL.c.guide_id.is_not(None), _CALL.c.claimed_at.is_not(None), _CALL.c.opened_at >= since
                )
            ).all()
        sales = self.sales()
        sold = sales.attributed(since) if sales is not None else []
        catalog = self.catalog()
        style_of: dict[str, str] = {}

        def style(gtin: str) -> str:
            if gtin not in style_of:
                p = catalog.get(gtin) if catalog is not None else None
                style_of[gtin] = (p.style or p.name) if p is not None else gtin
            return style_of[gtin]

        tried_by_guide: dict[str, set[tuple[str, str]]] = defaultdict(set)
        tried_by_style: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for gtin, visit, guide, _claimed, _opened in tried_rows:
            tried_by_style[style(gtin)].add((visit, gtin))
            if guide is not None:
                tried_by_guide[str(guide)].add((visit, gtin))
        waits: dict[str, list[float]] = defaultdict(list)
        for guide, opened, claimed in calls:
            waits[str(guide)].append((as_utc(claimed) - as_utc(opened)).total_seconds())
        bought: dict[str, dict[str, int]] = defaultdict(lambda: {"items": 0, "sales_minor": 0, "by_code": 0})
        style_bought: dict[str, int] = defaultdict(int)
        for row in sold:
            if row["guide_id"]:
                b = bought[row["guide_id"]]
                b["items"] += row["qty"]
                b["sales_minor"] += row["net_minor"]
                b["by_code"] += row["qty"] if row["via"] == "code" else 0
            if row["via"] == "fitting":
                style_bought[style(row["gtin"])] += row["qty"]
        guides = sorted(set(tried_by_guide) | set(waits) | set(bought))
        return {
            "days": days,
            "guides": [
                {"guide_id": g, "calls": len(waits[g]), "claim_p50_s": _median(waits[g]),
                 "items_tried": len(tried_by_guide[g]), "items_bought": bought[g]["items"],
                 "bought_via_code": bought[g]["by_code"],
                 "conversion": _share(bought[g]["items"] - bought[g]["by_code"], len(tried_by_guide[g])),
                 "attributed_sales_minor": bought[g]["sales_minor"]}
                for g in guides
            ],
            "styles": sorted(
                ({"style": st, "items_tried": len(t), "items_bought": style_bought[st],
                  "conversion": _share(style_bought[st], len(t)),
                  "low_conversion": len(t) >= LOW_CONVERSION_MIN_TRIED
                  and (_share(style_bought[st], len(t)) or 0) < LOW_CONVERSION}
                 for st, t in tried_by_style.items()),
                key=lambda r: (-int(r["low_conversion"]), -int(r["items_tried"]), str(r["style"])),
            ),
        }  # fmt: skip


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _share(part: int, whole: int) -> float | None:
    return round(min(part / whole, 1.0), 3) if whole else None
