"""The fitting domain's facade for the router: room codes, the room view, refusals with audit."""

from __future__ import annotations

import html
import logging
import threading
import time
from typing import Any

from edge.fitting.calls import CallService
from edge.fitting.codes import RoomCodes
from edge.fitting.models import MAX_NOTE, CallIn, RoomInfo, RoomPublic
from edge.fitting.phones import Phone, PhoneSessions
from edge.fitting.settings import RoomSettings
from edge.fitting.visits import VisitService
from edge.platform.errors import EdgeError, Forbidden
from edge.platform.store import Store

log = logging.getLogger(__name__)

SHELF = Phone(id="edge:shelf", address="edge")  # who opens the calls the box itself needs
AUDIT_PER_SOURCE_PER_MIN = 20  # a script hammering forged codes must not flood the audit log


class FittingService:
    def __init__(
        self,
        store: Store,
        codes: RoomCodes,
        visits: VisitService,
        calls: CallService,
        store_name: str,
        phones: PhoneSessions,
    ) -> None:
        self.store = store
        self.phones = phones
        self.codes = codes
        self.visits = visits
        self.calls = calls
        self.store_name = store_name
        self._audits: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        visits.on_refused = self._call_guide_for

    def _call_guide_for(self, room_id: str, name: str, refused: dict[str, Any]) -> None:
        """A recalled garment reached a room: a guide's call to take it back (the usual queue,
        so it is claimed, timed and escalated like any other); repeats merge into one call."""
        why = refused["details"].get("reason") or refused["code"].replace("_", " ")
        note = f"Recalled item in this room: {name} ({why}). Please take it from the shopper."
        try:
            self.calls.open_call(self.visits.rooms[room_id], CallIn(kind="help", note=note[:MAX_NOTE]), SHELF)
        except EdgeError as exc:  # the room is busy, say: the refusal and its audit stand anyway
            log.warning("fitting: no guide call for a recalled item in %s: %s", room_id, exc.code)

    def room_for(self, token: str, source: str, where: str) -> RoomSettings:
        """Verify a room token; a refusal is audited (rate-limited per source) and re-raised."""
        try:
            return self.codes.verify(token)
        except Forbidden as exc:
            self.record_refusal(exc, token, source, where)
            raise

    def record_refusal(self, exc: Forbidden, token: str, source: str, where: str) -> None:
        """Audit a refused room code (at most a few per source a minute) and log it."""
        reason = str(exc.details.get("reason", "invalid"))
        if self._may_audit(source):
            with self.store.write() as s:
                s.audit(
                    f"phone:{source[:60]}",
                    "fitting.room_code_refused",
                    where,
                    reason=reason,
                    token_prefix=token[:12],
                )
        log.info("fitting: room code refused (%s) from %s", reason, source[:60])

    def _may_audit(self, source: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._audits) > 5000:
                self._audits.clear()
            hits = [t for t in self._audits.get(source, []) if now - t < 60]
            if len(hits) >= AUDIT_PER_SOURCE_PER_MIN:
                self._audits[source] = hits
                return False
            hits.append(now)
            self._audits[source] = hits
            return True

    def open_page(self, room: RoomSettings) -> None:
        """The phone opened the room page: that starts (or continues) the visit."""
        with self.store.write() as s:
            self.visits.current(s, room.id, create=True)

    def room_view(self, room: RoomSettings, phone: Phone) -> RoomPublic:
        with self.store.read() as s:
            visit = self.visits.live(s, room.id)
            visit_id = visit.id if visit else None
            items = self.visits.items(s, visit_id) if visit_id else []
            calls = self.calls.room_calls(s, visit_id, phone.id)
        return RoomPublic(
            room_id=room.id,
            room_name=room.name or room.id,
            zone=room.zone,
            visit_id=visit_id,
            items=items,
            calls=calls,
            catalog_available=self.visits.catalog() is not None,
        )

    def rooms(self) -> list[RoomInfo]:
        active: dict[str, int] = {}
        for c in self.calls.active():
            active[c.room_id] = active.get(c.room_id, 0) + 1
        out = []
        with self.store.read() as s:
            for room in self.codes.rooms.values():
                visit = self.visits.live(s, room.id)
                out.append(
                    RoomInfo(
                        id=room.id,
                        name=room.name or room.id,
                        zone=room.zone,
                        camera=room.camera,
                        visit_id=visit.id if visit else None,
                        active_calls=active.get(room.id, 0),
                    )
                )
        return out

    def refusal_page(self, accept_language: str = "") -> str:
        """The friendly page for a bad room code: no token, no details, nothing from the request
        but the shopper's language (Chinese when the phone prefers it, else English)."""
        store = html.escape(self.store_name)
        first = accept_language.split(",")[0].strip().lower()
        lang, title, body, suffix = (
            (
                "zh-CN",
                "请扫描门上的二维码",
                "此试衣间链接已失效或并非本店生成。请扫描试衣间门上的二维码来呼叫导购或换尺码。",
                "试衣间",
            )
            if first.startswith("zh")
            else (
                "en",
                "Please scan the code on the door",
                "This fitting-room link is not valid any more, or it was not made by this store. "
                "Scan the QR code on your fitting-room door to call a guide or ask for another size.",
                "fitting rooms",
            )
        )
        return (
            f"<!doctype html><html lang={lang}><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            '<link rel=stylesheet href="/ui/common/base.css"><link rel=stylesheet href="/ui/fitting/fitting.css">'
            f"<title>{store} {suffix}</title></head><body class=refusal>"
            f"<main><h1>{title}</h1><p>{body}</p><p>{store}</p></main></body></html>"
        )
