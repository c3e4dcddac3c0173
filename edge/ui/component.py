"""Pages and dashboard support in the composition root: the metrics sampler and the page API."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter

from edge.platform.context import Component, Context
from edge.platform.worker import Worker
from edge.scanning.events import ScanEvent
from edge.ui.state import UiState

log = logging.getLogger(__name__)


class UiComponent(Component):
    name = "ui"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.state = ctx.keep(UiState())
        self.ring, self.scans, self.stopping = self.state.ring, self.state.scans, self.state.stopping
        self.sampler = Worker("ui-metrics-sampler", self._sample_loop)

    async def start(self) -> None:
        self.stopping.clear()
        self.ctx.bus.subscribe(ScanEvent, self.scans.add)
        self.ctx.refresh_metrics()
        self.ring.sample()  # prime the counters so the first interval has rates
        self.sampler.start()

    def _sample_loop(self, w: Worker) -> None:
        # Collecting runs every collector in the process: a thread, off the loop.
        while not w.sleep(self.ring.interval_s):
            try:
                self.ctx.refresh_metrics()
                self.ring.sample()
            except Exception:
                log.exception("metrics sample failed")

    async def stop(self) -> None:
        self.ctx.bus.unsubscribe(ScanEvent, self.scans.add)
        self.stopping.set()
        await asyncio.to_thread(self.sampler.stop, 3.0)

    def routers(self) -> list[APIRouter]:
        from edge.ui.router import router

        return [router]


def build(ctx: Context) -> Component:
    return UiComponent(ctx)
