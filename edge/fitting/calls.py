"""The guide-call state machine: open -> (escalated ->) claimed -> resolved, or cancelled.

Every transition is one transaction holding the call row, an outbox row for the cloud and the
durable MQTT messages; the bus event (SSE to phones, guides and the dashboard) follows the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlmodel import col, func, select

from edge.bus import Bus, Event
from edge.checkout.contract import CatalogReader
from edge.fitting import callrows as rows
from edge.fitting import topics
from edge.fitting.callrows import CallRow
from edge.fitting.events import CallChanged
from edge.fitting.limits import CallLimits
from edge.fitting.models import ACTIVE_STATES, CallIn, CallPublic, FittingCall, FittingInbound
from edge.fitting.phones import Phone
from edge.fitting.settings import FittingSettings, RoomSettings
from edge.fitting.text import clean_note, note_key
from edge.fitting.visits import VisitService
from edge.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from edge.platform.gs1 import normalise_gtin
from edge.platform.observability import escape_text
from edge.platform.store import ReadTx, Store, Tx
from edge.platform.timeutil import as_utc, utcnow
from edge.platform.writeslot import BACKGROUND

log = logging.getLogger(__name__)

_BUCKETS = (5, 15, 30, 60, 90, 120, 180, 300, 600, 1800)
CALLS_OPENED = Counter("edge_fitting_calls_total", "Guide calls opened", ["kind", "zone"])
CALLS_MERGED = Counter("edge_fitting_calls_merged_total", "Calls merged into an identical active call")
ESCALATIONS = Counter("edge_fitting_escalations_total", "Calls escalated after going unclaimed", ["zone"])
CLAIM_SECONDS = Histogram("edge_fitting_claim_seconds", "Call open to claimed", ["zone"], buckets=_BUCKETS)
RESOLVE_SECONDS = Histogram("edge_fitting_resolve_seconds", "Call claimed to resolved", ["zone"], buckets=_BUCKETS)
ACTIVE_CALLS = Gauge("edge_fitting_active_calls", "Calls open, escalated or claimed")

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("claimed", "escalated", "cancelled"),
    "escalated": ("claimed", "cancelled"),
    "claimed": ("resolved", "cancelled"),
    "resolved": (),
    "cancelled": (),
}


class CallService:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        store_id: str,
        settings: FittingSettings,
        visits: VisitService,
        catalog: Callable[[], CatalogReader | None],
    ) -> None:
        self.store = store
        self.bus = bus
        self.store_id = store_id
        self.settings = settings
        self.visits = visits
        self.catalog = catalog
        self.rooms = {r.id: r for r in settings.rooms}
        self.limits = CallLimits(settings)

    # --- the shopper -----------------------------------------------------------------
    def open_call(self, room: RoomSettings, body: CallIn, phone: Phone) -> tuple[CallPublic, bool]:
        gtin = normalise_gtin(body.gtin) if body.gtin else None
        want = normalise_gtin(body.want_gtin) if body.want_gtin else None
        note = clean_note(body.note)
        self._check_call(body.kind, gtin, want)
        key = f"{body.kind}|{gtin or ''}|{want or ''}|{note_key(note)}"
        events: list[Event] = []
        with self.store.write() as s:
            again, active = rows.room_live(s, room.id, body.request_id, phone.id)
            if again is not None:
                return self._public(again), True
            same_id = next((cid for cid, k, owner in active if k == key and owner == phone.id), None)
            same = rows.get(s, same_id) if same_id else None
            if same is not None:  # the same phone asking the same thing again: one call
                same.merged_count += 1
                rows.save(s, same)
                CALLS_MERGED.inc()
                return self._public(same), True
            self.limits.check(room, phone, len(active), rows.active_from(s, phone.id, phone.address))
            call = CallRow(
                room_id=room.id,
                zone=room.zone,
                visit_id=self.visits.visit_id_for_call(s, room.id),
                kind=body.kind,
                gtin=gtin,
                want_gtin=want,
                note=note,
                merge_key=key,
                phone_id=phone.id[:64],
                client=phone.address[:64],
                request_id=body.request_id,
            )
            rows.add(s, call)
            out = self._public(call)
            events.append(self._emit(s, call, out, active=len(active) + 1))
            CALLS_OPENED.labels(body.kind, room.zone).inc()
            log.info("fitting: %s call %s in %s: %s", body.kind, call.id, room.id, escape_text(note, 120))
        self._after(events)
        return out, False

    def _check_call(self, kind: str, gtin: str | None, want: str | None) -> None:
        if kind in ("variant", "bring") and not gtin:
            raise InvalidInput(f"a {kind} call needs the item (gtin)", code="item_required")
        if kind == "variant" and not want:
            raise InvalidInput("say which size or colour you want (want_gtin)", code="variant_required")
        if kind != "variant" and want:
            raise InvalidInput("want_gtin only goes with a variant call", code="unexpected_variant")
        catalog = self.catalog()
        if catalog is None or gtin is None:
            return
        item = catalog.get(gtin)
        if item is None:
            raise NotFound("this product is not in the store's catalog", code="unknown_item")
        if kind == "variant" and want is not None:
            variant = next((v for v in catalog.variants(gtin) if v.gtin == want), None)
            if variant is None or want == gtin:
                raise InvalidInput("that is not another size or colour of this item", code="not_a_variant")
            if variant.stock <= 0:
                raise Conflict("that size and colour is out of stock", code="out_of_stock")

    def cancel(self, room: RoomSettings, call_id: str, phone: Phone) -> CallPublic:
        with self.store.write() as s:
            call = self._load(s, call_id, room.id)
            if call.phone_id != phone.id:
                raise Forbidden("this request was made from another phone", code="not_your_call")
            if call.state == "cancelled":
                return self._public(call)
            self._move(call, "cancelled")
            call.cancelled_at = utcnow()
            events: list[Event] = [self._emit(s, call)]
            out = self._public(call)
        self._after(events)
        return out

    # --- the guides ------------------------------------------------------------------
    def claim(
        self, call_id: str, guide_id: str, *, event_id: str | None, source: str, room_id: str | None = None
    ) -> CallPublic:
        events: list[Event] = []
        with self.store.write() as s:
            call = self._load(s, call_id, room_id)
            if self._seen(s, event_id, source) or (call.state == "claimed" and call.guide_id == guide_id):
                return self._public(call)
            if call.state == "claimed":
                raise Conflict(
                    "another guide already claimed this call",
                    code="already_claimed",
                    details={"guide_id": call.guide_id},
                )
            self._move(call, "claimed")
            call.guide_id = guide_id
            call.claimed_at = utcnow()
            CLAIM_SECONDS.labels(call.zone).observe((call.claimed_at - as_utc(call.opened_at)).total_seconds())
            events.append(self._emit(s, call))
            out = self._public(call)
        self._after(events)
        return out

    def resolve(
        self,
        call_id: str,
        guide_id: str,
        *,
        manager: bool,
        event_id: str | None,
        source: str,
        release: bool = False,
        room_id: str | None = None,
    ) -> CallPublic:
        events: list[Event] = []
        with self.store.write() as s:
            call = self._load(s, call_id, room_id)
            if self._seen(s, event_id, source) or call.state == "resolved":
                return self._public(call)
            if call.state in ("open", "escalated"):
                raise Conflict("claim the call before resolving it", code="claim_first")
            if call.state == "claimed" and call.guide_id != guide_id and not manager:
                raise Forbidden("another guide claimed this call", code="not_your_call")
            self._move(call, "resolved")
            call.resolved_at = utcnow()
            if call.claimed_at is not None:
                RESOLVE_SECONDS.labels(call.zone).observe((call.resolved_at - as_utc(call.claimed_at)).total_seconds())
            events.append(self._emit(s, call))
            if release:
                ended = self.visits.release(s, call.room_id)
                if ended is not None:
                    events.append(ended)
            out = self._public(call)
        self._after(events)
        return out

    def escalate_due(self) -> int:
        """Escalate calls unclaimed past their zone's limit (run every second or so)."""
        now = utcnow()
        events: list[Event] = []

        def due(call: FittingCall) -> bool:
            return now - as_utc(call.opened_at) >= timedelta(seconds=self.settings.escalation_s(call.zone))

        with self.store.read() as r:  # most rounds find nothing due: no write slot for those
            if not any(due(call) for call in rows.open_calls(r)):
                return 0
        with self.store.write() as s:
            for call in rows.open_calls(s):
                limit = timedelta(seconds=self.settings.escalation_s(call.zone))
                if now - as_utc(call.opened_at) < limit:
                    continue
                self._move(call, "escalated")
                call.escalated_at = now
                ESCALATIONS.labels(call.zone).inc()
                events.append(self._emit(s, call))
                log.warning(
                    "fitting: call %s in %s unclaimed for %s s, escalated",
                    call.id,
                    call.room_id,
                    limit.seconds,
                )
        self._after(events)
        return len(events)

    def active(self, zone: str | None = None) -> list[CallPublic]:
        with self.store.read() as s:
            q = select(FittingCall).where(col(FittingCall.state).in_(ACTIVE_STATES))
            if zone:
                q = q.where(FittingCall.zone == zone)
            return [self._public(c) for c in s.exec(q.order_by(col(FittingCall.opened_at))).all()]

    def room_calls(self, s: ReadTx, visit_id: str | None, phone_id: str) -> list[CallPublic]:
        """This phone's calls in the visit: another shopper's calls and notes are not shown."""
        if visit_id is None:
            return []
        found = s.exec(
            select(FittingCall)
            .where(FittingCall.visit_id == visit_id, FittingCall.phone_id == phone_id)
            .order_by(col(FittingCall.opened_at))
        )
        return [self._public(c) for c in found.all()]

    def get(self, call_id: str) -> CallPublic:
        with self.store.read() as s:
            return self._public(self._load(s, call_id, None))

    # --- internals -------------------------------------------------------------------
    def _load(self, s: ReadTx, call_id: str, room_id: str | None) -> FittingCall:
        call = rows.get(s, call_id) if isinstance(call_id, str) and len(call_id) <= 36 else None
        if call is None or (room_id is not None and call.room_id != room_id):
            raise NotFound("no such call", code="no_call")
        return call

    @staticmethod
    def _seen(s: Tx, event_id: str | None, source: str) -> bool:
        """Dedupe inbound claims by event_id, recorded in the transaction that applies them."""
        return bool(event_id) and not rows.first_sight(s, str(event_id), source)

    @staticmethod
    def _move(call: FittingCall, state: str) -> None:
        if state not in TRANSITIONS[call.state]:
            raise Conflict(f"this call is {call.state} and cannot become {state}", code=f"call_{call.state}")
        call.state = state
        call.version += 1

    def _public(self, call: FittingCall) -> CallPublic:
        room = self.rooms.get(call.room_id)
        stamp = {
            k: (as_utc(v) if v else None)
            for k, v in (
                ("escalated_at", call.escalated_at),
                ("claimed_at", call.claimed_at),
                ("resolved_at", call.resolved_at),
                ("cancelled_at", call.cancelled_at),
            )
        }
        return CallPublic(
            id=call.id,
            room_id=call.room_id,
            room_name=(room.name or room.id) if room else call.room_id,
            zone=call.zone,
            kind=call.kind,
            state=call.state,
            gtin=call.gtin,
            want_gtin=call.want_gtin,
            want=self.visits.variant_info(call.want_gtin),
            item=self.visits.variant_info(call.gtin),
            note=call.note,
            guide_id=call.guide_id,
            version=call.version,
            merged_count=call.merged_count,
            opened_at=as_utc(call.opened_at),
            **stamp,
        )

    def _emit(
        self, s: Tx, call: FittingCall, public: CallPublic | None = None, active: int | None = None
    ) -> CallChanged:
        """Save the call, its outbox row and durable MQTT messages in the caller's transaction;
        returns the bus event. `active` is the room's active call count when the caller knows it."""
        if public is None:
            rows.save(s, call)
            public = self._public(call)
        body: dict[str, Any] = public.model_dump(mode="json")
        s.outbox("fitting", f"call.{call.state}", body)
        msg = dict(body, type="fitting.call", schema=1, store=self.store_id, changed_at=utcnow().isoformat())
        s.mqtt(topics.call(self.store_id, call.room_id), msg)
        if call.state == "escalated":
            s.mqtt(topics.escalations(self.store_id), dict(msg))
        if active is None:
            active = rows.active_in_room(s, call.room_id)
        state = {"type": "fitting.room", "schema": 1, "store": self.store_id, "room_id": call.room_id,
                 "active_calls": active, "changed_at": msg["changed_at"]}  # fmt: skip
        s.mqtt(topics.room_state(self.store_id, call.room_id), state, retain=True)
        return CallChanged(
            call_id=call.id,
            phone_id=call.phone_id,
            room_id=call.room_id,
            zone=call.zone,
            state=call.state,
            version=call.version,
            call=body,
        )

    def _after(self, events: list[Event]) -> None:
        for ev in events:
            self.bus.publish(ev)

    def prune_inbound(self, keep_days: int = 8) -> int:
        """Forget applied claim ids older than any broker session could redeliver (7 days)."""
        cutoff = utcnow() - timedelta(days=keep_days)
        with self.store.write(priority=BACKGROUND) as s:
            old = s.exec(select(FittingInbound).where(col(FittingInbound.received_at) < cutoff)).all()
            for row in old:
                s.delete(row)
        return len(old)

    def refresh_gauge(self) -> None:
        with self.store.read() as s:
            n = s.exec(select(func.count()).select_from(FittingCall).where(col(FittingCall.state).in_(ACTIVE_STATES)))
            ACTIVE_CALLS.set(int(n.one()))
