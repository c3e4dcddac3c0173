"""Pages and dashboard support in the composition root: the metrics sampler and the page API."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter

from edge.platform.context import Component, Context
from edge.scanning.events import ScanEvent
from edge.ui.state import UiState

log = logging.getLogger(__name__)


class UiComponent(Component):
    name = "ui"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.state = ctx.keep(UiState())
        self.ring, self.scans, self.stopping = self.state.ring, self.state.scans, self.state.stopping
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.stopping.clear()
        self.ctx.bus.subscribe(ScanEvent, self.scans.add)
        self.ring.sample()  # prime the counters so the first interval has rates
        self._task = asyncio.get_running_loop().create_task(self._sampler())

    async def _sampler(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=self.ring.interval_s)
            try:
                # Collecting runs every collector in the process; keep it off the loop.
                await asyncio.to_thread(self.ring.sample)
            except Exception:
                log.exception("metrics sample failed")

    async def stop(self) -> None:
        self.ctx.bus.unsubscribe(ScanEvent, self.scans.add)
        self.stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def routers(self) -> list[APIRouter]:
        from edge.ui.router import router

        return [router]


def build(ctx: Context) -> Component:
    return UiComponent(ctx)
