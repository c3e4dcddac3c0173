"""The fitting domain in the composition root: services, room-camera scans, the claim
listener on MQTT, and the escalation / idle-visit sweep."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from edge.checkout.contract import CatalogReader
from edge.fitting.calls import CallService
from edge.fitting.codes import RoomCodes
from edge.fitting.credit import GuideCredit
from edge.fitting.inbound import ClaimListener
from edge.fitting.phones import PhoneSessions
from edge.fitting.service import FittingService
from edge.fitting.visits import VisitService
from edge.platform.codes import Codes
from edge.platform.context import Component, Context, need
from edge.platform.observability import ComponentHealth
from edge.platform.security import Signer
from edge.platform.worker import Worker
from edge.scanning.events import ScanEvent

if TYPE_CHECKING:
    from fastapi import APIRouter

log = logging.getLogger(__name__)

SWEEP_S = 1.0
IDLE_SWEEP_EVERY = 30
PRUNE_EVERY = 3600


class FittingComponent(Component):
    name = "fitting"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        s = ctx.settings
        self.codes = RoomCodes(s.fitting.rooms, s.store.id, s.http, Codes(ctx.secrets))
        self.visits = VisitService(ctx.store, ctx.bus, s.fitting, self._catalog)
        self.calls = CallService(ctx.store, ctx.bus, s.store.id, s.fitting, self.visits, self._catalog)
        phones = PhoneSessions(Signer("phone_session", ctx.secrets.keyring("phone_session")), s.store.id)
        self.service = FittingService(ctx.store, self.codes, self.visits, self.calls, s.store.name, phones)
        credit = GuideCredit(ctx.store, Codes(ctx.secrets), s.store.id, s.fitting.guide_code_ttl_s, self._catalog,
                             lambda: ctx.services.sales)  # fmt: skip
        ctx.services.tryons = credit  # checkout asks which sold items were tried on, and with whom
        ctx.keep(credit)
        self.listener: ClaimListener | None = None
        client = ctx.services.messaging
        if client is not None:
            self.listener = ClaimListener(
                s.store.id,
                self.calls,
                need(ctx.services.access, "access"),
                client,
                attempts=s.fitting.claim_attempts,
                backoff_s=s.fitting.claim_retry_backoff_s,
            )
        self.sweeper = Worker("fitting-sweep", self._sweep)
        self._sweep_error = ""
        ctx.keep(self.service)

    def _catalog(self) -> CatalogReader | None:
        # Optional: without the checkout catalog, items show by code and variant calls are not checked.
        return self.ctx.services.catalog

    async def start(self) -> None:
        self.ctx.bus.subscribe(ScanEvent, self._on_scan)
        if self.listener is not None:
            self.listener.start()
        self.sweeper.start()

    async def stop(self) -> None:
        self.ctx.bus.unsubscribe(ScanEvent, self._on_scan)
        if self.listener is not None:
            await asyncio.to_thread(self.listener.stop)
        await asyncio.to_thread(self.sweeper.stop, 3.0)

    async def _on_scan(self, ev: ScanEvent) -> None:
        if ev.role != "fitting_room" or not ev.target or not ev.gtin:
            return
        await asyncio.to_thread(self.visits.add_scanned, ev.target, ev.gtin)

    def _sweep(self, w: Worker) -> None:
        n = 0
        while not w.stopping:
            try:
                self.calls.escalate_due()
                if n % IDLE_SWEEP_EVERY == 0:
                    self.visits.end_idle()
                    self.calls.refresh_gauge()
                if n % PRUNE_EVERY == 0:
                    self.calls.prune_inbound()
                self._sweep_error = ""
            except Exception as exc:  # keep sweeping; report it
                self._sweep_error = f"escalation sweep failed: {exc}"[:200]
                log.exception("fitting sweep failed")
            n += 1
            w.sleep(SWEEP_S)

    def health(self) -> dict[str, ComponentHealth]:
        rooms = len(self.codes.rooms)
        if self._sweep_error:
            return {"fitting": ComponentHealth(status="degraded", reason=self._sweep_error)}
        catalog = "with catalog" if self._catalog() is not None else "without catalog (items by code only)"
        return {"fitting": ComponentHealth(status="ok", reason=f"{rooms} room(s), {catalog}")}

    def routers(self) -> list[APIRouter]:
        from edge.fitting.router import router

        return [router]


def build(ctx: Context) -> Component:
    return FittingComponent(ctx)
