"""The scanning domain in the composition root: one decode thread per kiosk, fitting-room and
exit-gate camera, publishing ScanEvents on the bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from edge.cameras.contract import CameraInfo
from edge.platform import gs1facts
from edge.platform.context import Component, Context
from edge.platform.observability import ComponentHealth
from edge.scanning.confirm import Confirmer, ConfirmRule
from edge.scanning.decoders import zbar_available
from edge.scanning.framehost import FrameHost
from edge.scanning.motion import GateSettings, MotionGate
from edge.scanning.phoneframes import PhoneFrames
from edge.scanning.pipeline import FrameProcessor, ScanWorker
from edge.scanning.settings import ConfirmSettings, ScanningSettings
from edge.scanning.strategy import Strategy

log = logging.getLogger(__name__)
SCAN_ROLES = ("kiosk", "fitting_room", "exit_gate")
PHONE = "phone"


def confirm_rule(settings: ScanningSettings, role: str) -> ConfirmRule:
    c = settings.roles.get(role) or ConfirmSettings()
    return ConfirmRule(
        min_frames=c.min_frames,
        min_decoders=c.min_decoders,
        window_s=c.window_s,
        absence_s=c.absence_s,
        absence_frames=c.absence_frames,
        symbologies=tuple(c.symbologies) if c.symbologies is not None else None,
    )


def make_strategy(settings: ScanningSettings) -> Strategy:
    return _strategy(settings, settings.symbologies)


def _strategy(
    settings: ScanningSettings, symbologies: Sequence[str], scanline_ms_per_s: float | None = None
) -> Strategy:
    return Strategy(
        symbologies,
        use_zbar=settings.use_zbar,
        variable_prefixes=settings.variable_measure_prefixes,
        weight_prefixes=settings.variable_measure_weight_prefixes,
        live_scanline_ms_per_s=settings.live_scanline_ms_per_s if scanline_ms_per_s is None else scanline_ms_per_s,
        live_witness_ms_per_s=settings.live_witness_ms_per_s,
    )


def role_strategy(settings: ScanningSettings, role: str) -> Strategy:
    """The strategy restricted to what this role decodes: fewer formats is a cheaper fast pass."""
    role_cfg = settings.roles.get(role) or ConfirmSettings()
    wanted = [s for s in settings.symbologies if role_cfg.symbologies is None or s in role_cfg.symbologies]
    return _strategy(settings, wanted, settings.phone.scanline_ms_per_s if role == PHONE else None)


def make_processor(settings: ScanningSettings, cam: CameraInfo, strategy: Strategy | None = None) -> FrameProcessor:
    m = settings.motion
    strategy = strategy or role_strategy(settings, cam.role)
    gate = MotionGate(GateSettings(pixel_delta=m.pixel_delta, min_changed=m.min_changed, settle_s=m.settle_s))
    return FrameProcessor(
        cam.id, cam.role, cam.target, strategy, gate if m.enabled else None,
        Confirmer(confirm_rule(settings, cam.role)), roi=cam.roi, live_fallbacks=settings.live_fallbacks,
        fallback_ms_per_s=settings.live_fallback_ms_per_s,
    )  # fmt: skip


class ScanningService:
    """Implements the scanning contract: per-camera decode figures (for the cameras list), and
    what a typed code means under the store's GS1 layout."""

    def __init__(self, workers: dict[str, ScanWorker], layout: gs1facts.Layout) -> None:
        self.workers = workers
        self.layout = layout

    def camera_stats(self, camera_id: str) -> dict[str, Any]:
        worker = self.workers.get(camera_id)
        return worker.p.stats.as_dict() if worker else {}

    def read_typed(self, text: str) -> gs1facts.Facts:
        return gs1facts.typed_facts(text, self.layout)


class ScanningComponent(Component):
    name = "scanning"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._strategies: dict[str, Strategy] = {}
        self.cameras: list[CameraInfo] = []
        self.workers: dict[str, ScanWorker] = {}
        self.service = ScanningService(self.workers, ctx.settings.scanning.layout())
        ctx.services.scanning = ctx.services.codes = ctx.keep(self.service)
        settings = ctx.settings.scanning
        self.host = FrameHost(settings) if settings.phone.process else None
        if self.host is not None:
            ctx.before_metrics(self.host.sync_metrics)
        ctx.services.frames = self.host or PhoneFrames(
            settings, role_strategy(settings, PHONE), confirm_rule(settings, PHONE)
        )

    async def start(self) -> None:
        if self.host is not None:
            self.host.start()
        feed = self.ctx.services.cameras
        if feed is None:
            log.warning("scanning: no camera service, nothing to scan")
            return
        settings = self.ctx.settings.scanning
        self.cameras = [c for c in feed.cameras() if c.role in SCAN_ROLES]
        for cam in self.cameras:
            strategy = self._strategies.setdefault(cam.role, role_strategy(settings, cam.role))
            worker = ScanWorker(make_processor(settings, cam, strategy), feed, self.ctx.bus.publish)
            self.workers[cam.id] = worker
            worker.start()

    async def stop(self) -> None:
        def stop_all() -> None:
            for worker in self.workers.values():
                worker.worker.signal_stop()
            for worker in self.workers.values():
                worker.stop(2.0)

        await asyncio.to_thread(stop_all)
        if self.host is not None:
            await asyncio.to_thread(self.host.stop)

    def health(self) -> dict[str, ComponentHealth]:
        phones = {"phone_frames": self.host.health()} if self.host is not None else {}
        if not self.cameras:
            return phones
        zbar = zbar_available() and self.ctx.settings.scanning.use_zbar
        reason = f"{len(self.workers)} cameras scanning; decoders zxing-cpp" + (" + pyzbar" if zbar else "")
        if not zbar and self.ctx.settings.scanning.use_zbar:
            return {"scanning": ComponentHealth(status="degraded", reason=reason + " (libzbar0 missing)"), **phones}
        return {"scanning": ComponentHealth(status="ok", reason=reason), **phones}


def build(ctx: Context) -> Component:
    return ScanningComponent(ctx)
