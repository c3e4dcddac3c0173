"""Cameras in the composition root: one capture thread per enabled camera, plus a watchdog."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from edge.cameras.service import CameraService
from edge.checkout.events import CartChanged
from edge.platform.context import Component, Context
from edge.platform.observability import ComponentHealth

if TYPE_CHECKING:
    from fastapi import APIRouter


class CamerasComponent(Component):
    name = "cameras"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

        def decode_stats(camera_id: str) -> dict[str, Any]:
            scanning = ctx.services.scanning
            return scanning.camera_stats(camera_id) if scanning is not None else {}

        self.service = ctx.keep(CameraService(list(ctx.settings.cameras), bus=ctx.bus, decode_stats=decode_stats))
        ctx.services.cameras = self.service

    async def start(self) -> None:
        # Opening happens in the capture threads: a camera that never opens never blocks startup.
        self.service.start()
        if any(c.replay == "per_session" for c in self.ctx.settings.cameras):
            self.ctx.bus.subscribe(CartChanged, self._on_cart)

    async def _on_cart(self, ev: CartChanged) -> None:
        if ev.reason == "opened":
            self.service.replay_for(ev.kiosk_id)

    async def stop(self) -> None:
        self.ctx.bus.unsubscribe(CartChanged, self._on_cart)
        await asyncio.to_thread(self.service.stop, 2.0)

    def health(self) -> dict[str, ComponentHealth]:
        status, reason, details = self.service.health()
        return {
            "cameras": ComponentHealth(status="ok" if status == "ok" else "degraded", reason=reason, details=details)
        }

    def routers(self) -> list[APIRouter]:
        from edge.cameras.router import router

        return [router]


def build(ctx: Context) -> Component:
    return CamerasComponent(ctx)
