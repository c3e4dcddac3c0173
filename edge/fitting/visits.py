"""Room visits and the items in them, with variants and stock from the catalog."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy import select as core_select
from sqlmodel import col, func, select

from edge.bus import Bus
from edge.checkout.contract import CatalogReader, ProductView
from edge.fitting.events import ItemAdded, VisitEnded
from edge.fitting.models import (
    ACTIVE_STATES,
    FittingCall,
    FittingItem,
    FittingVisit,
    ItemPublic,
    VariantPublic,
)
from edge.fitting.settings import FittingSettings
from edge.platform.errors import Conflict, NotFound, Unprocessable
from edge.platform.gs1 import normalise_gtin
from edge.platform.gs1facts import facts
from edge.platform.observability import escape_text
from edge.platform.store import ReadTx, Store, Tx
from edge.platform.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)
TOUCH_EVERY = timedelta(seconds=15)  # activity is kept to 15 s: one write less per call or scan
_V: Table = FittingVisit.__table__  # type: ignore[attr-defined]
_LIVE_VISIT = core_select(_V.c.id, _V.c.last_activity_at).where(
    _V.c.room_id == bindparam("room"), _V.c.ended_at.is_(None)
)
_TOUCH = update(_V).where(_V.c.id == bindparam("vid")).values(last_activity_at=bindparam("now"))


VARIANT_TTL_S = 30.0


class VisitService:
    """A visit starts at the first scan or page open and ends on release or when idle."""

    def __init__(
        self, store: Store, bus: Bus, settings: FittingSettings, catalog: Callable[[], CatalogReader | None]
    ) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings
        self.catalog = catalog
        self.rooms = {r.id: r for r in settings.rooms}
        # gtin -> (expires at, name/size/colour): every call transition shows its items, and a
        # catalog read per transition sat on the path a guide's handheld waits on
        self._variant_cache: dict[str, tuple[float, dict[str, str] | None]] = {}
        # told of a garment that must not be handed over (recalled): FittingService calls a guide
        self.on_refused: Callable[[str, str, dict[str, Any]], None] | None = None

    # --- visits (inside the caller's transaction) --------------------------------------
    def visit_id_for_call(self, s: Tx, room_id: str) -> str:
        """The current visit's id for a new call: one prebuilt read on the hot path; the ORM path
        below only when a visit must be started or ended as idle."""
        row = s.run(_LIVE_VISIT, {"room": room_id}).first()
        now = utcnow()
        if row is None or now - as_utc(row.last_activity_at) >= timedelta(seconds=self.settings.visit_idle_timeout_s):
            visit = self.current(s, room_id, create=True)
            assert visit is not None
            return visit.id
        if now - as_utc(row.last_activity_at) > TOUCH_EVERY:
            s.run(_TOUCH, {"vid": row.id, "now": now})
        return str(row.id)

    def live(self, s: ReadTx, room_id: str) -> FittingVisit | None:
        """The room's visit for a reader: None when there is none or it is idle (the sweep, or
        the next write, ends it)."""
        visit = s.exec(
            select(FittingVisit).where(FittingVisit.room_id == room_id, col(FittingVisit.ended_at).is_(None))
        ).first()
        return None if visit is None or self._idle(s, visit) else visit

    def current(self, s: Tx, room_id: str, *, create: bool, touch: bool = True) -> FittingVisit | None:
        visit = s.exec(
            select(FittingVisit).where(FittingVisit.room_id == room_id, col(FittingVisit.ended_at).is_(None))
        ).first()
        now = utcnow()
        if visit is not None and self._idle(s, visit):
            self._end(s, visit, "idle")
            visit = None
        if visit is None and create:
            visit = FittingVisit(room_id=room_id, started_at=now, last_activity_at=now)
            s.add(visit)
            s.flush()
        elif visit is not None and touch and now - as_utc(visit.last_activity_at) > TOUCH_EVERY:
            visit.last_activity_at = now
            s.add(visit)
        return visit

    def _idle(self, s: ReadTx, visit: FittingVisit) -> bool:
        limit = timedelta(seconds=self.settings.visit_idle_timeout_s)
        if utcnow() - as_utc(visit.last_activity_at) < limit:
            return False
        return self._active_calls(s, visit.room_id) == 0

    def _active_calls(self, s: ReadTx, room_id: str) -> int:
        return int(
            s.exec(
                select(func.count())
                .select_from(FittingCall)
                .where(FittingCall.room_id == room_id, col(FittingCall.state).in_(ACTIVE_STATES))
            ).one()
        )

    def _end(self, s: Tx, visit: FittingVisit, reason: str) -> VisitEnded:
        visit.ended_at = utcnow()
        visit.end_reason = reason
        s.add(visit)
        return VisitEnded(room_id=visit.room_id, visit_id=visit.id, reason=reason)

    def release(self, s: Tx, room_id: str) -> VisitEnded | None:
        """End the visit when no call is active any more (the guide released the room)."""
        visit = s.exec(
            select(FittingVisit).where(FittingVisit.room_id == room_id, col(FittingVisit.ended_at).is_(None))
        ).first()
        if visit is None or self._active_calls(s, room_id) > 0:
            return None
        return self._end(s, visit, "released")

    def end_idle(self) -> list[VisitEnded]:
        """Background sweep: end visits idle past the timeout with no active call."""
        ended: list[VisitEnded] = []
        with self.store.read() as r:  # most sweeps find nothing: no write slot for those
            open_visits = r.exec(select(FittingVisit).where(col(FittingVisit.ended_at).is_(None))).all()
            if not any(self._idle(r, visit) for visit in open_visits):
                return ended
        with self.store.write() as s:
            open_visits = s.exec(select(FittingVisit).where(col(FittingVisit.ended_at).is_(None))).all()
            for visit in open_visits:
                if self._idle(s, visit):
                    ended.append(self._end(s, visit, "idle"))
        for ev in ended:
            self.bus.publish(ev)
        return ended

    # --- items -----------------------------------------------------------------------
    def add_item(self, room_id: str, code: str, source: str) -> ItemPublic:
        """Add a garment to the room's current visit (idempotent per visit and GTIN)."""
        gtin = normalise_gtin(code)
        catalog = self.catalog()
        product = catalog.get(gtin) if catalog is not None else None
        if catalog is not None and product is None:
            raise NotFound("this product is not in the store's catalog", code="unknown_item")
        refused = catalog.refusal(facts(gtin)) if catalog is not None else None
        if refused is not None:  # a recalled garment is not handed to a shopper either
            with self.store.write() as s:
                s.audit("fitting", f"fitting.{refused['code']}", room_id, **refused["details"])
            if self.on_refused is not None:
                self.on_refused(room_id, product.name if product else gtin, refused)
            raise Unprocessable(refused["message"], code=refused["code"], details=refused["details"])
        with self.store.write() as s:
            visit = self.current(s, room_id, create=True)
            assert visit is not None
            item = s.exec(select(FittingItem).where(FittingItem.visit_id == visit.id, FittingItem.gtin == gtin)).first()
            added = item is None
            if item is None:
                count = s.exec(
                    select(func.count()).select_from(FittingItem).where(FittingItem.visit_id == visit.id)
                ).one()
                if int(count) >= self.settings.items_per_visit:
                    raise Conflict("this room already holds the most items a visit may have", code="too_many_items")
                item = FittingItem(visit_id=visit.id, gtin=gtin, source=source)
                s.add(item)
            visit_id = visit.id
        if added:
            self.bus.publish(ItemAdded(room_id=room_id, visit_id=visit_id, gtin=gtin, source=source))
        return self._item_public(item, product, catalog)

    def add_scanned(self, room_id: str, code: str) -> None:
        """From a fitting-room camera: unknown or bad codes are logged, never raised."""
        if room_id not in self.rooms:
            log.warning("fitting: scan for unknown room %s ignored", escape_text(room_id, 40))
            return
        try:
            self.add_item(room_id, code, "scan")
        except (NotFound, Conflict) as exc:
            log.info("fitting: scan %s in %s not added: %s", escape_text(code, 40), room_id, exc.code)
        except Exception as exc:  # a typed InvalidInput from normalise_gtin, or the DB
            log.warning("fitting: scan in %s not added: %s", room_id, escape_text(exc, 200))

    def items(self, s: ReadTx, visit_id: str) -> list[ItemPublic]:
        rows = s.exec(
            select(FittingItem).where(FittingItem.visit_id == visit_id).order_by(col(FittingItem.added_at))
        ).all()
        catalog = self.catalog()
        return [self._item_public(r, catalog.get(r.gtin) if catalog else None, catalog) for r in rows]

    def variant_info(self, gtin: str | None) -> dict[str, str] | None:
        """Name, size and colour of a catalog item, cached for VARIANT_TTL_S (stock is not in it)."""
        catalog = self.catalog()
        if not gtin or catalog is None:
            return None
        now = time.monotonic()
        hit = self._variant_cache.get(gtin)
        if hit is not None and hit[0] > now:
            return hit[1]
        p = catalog.get(gtin)
        info = {"name": p.name, "size": p.size, "colour": p.colour} if p else None
        if len(self._variant_cache) >= 4096:
            self._variant_cache.clear()
        self._variant_cache[gtin] = (now + VARIANT_TTL_S, info)
        return info

    @staticmethod
    def _item_public(item: FittingItem, product: ProductView | None, catalog: CatalogReader | None) -> ItemPublic:
        variants = catalog.variants(item.gtin) if (catalog is not None and product is not None) else []
        return ItemPublic(
            gtin=item.gtin,
            name=product.name if product else "",
            style=product.style if product else "",
            size=product.size if product else "",
            colour=product.colour if product else "",
            price_minor=product.price_minor if product else 0,
            currency=product.currency if product else "",
            source=item.source,
            added_at=as_utc(item.added_at),
            variants=[
                VariantPublic(gtin=v.gtin, size=v.size, colour=v.colour, stock=v.stock, in_stock=v.stock > 0)
                for v in variants
            ],
        )
