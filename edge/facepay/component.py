"""Face-pay in the composition root: models load in the background, /readyz says how it went.

Loading (sha256 of ~8 MB and four sessions) takes about a second, so it runs in a thread and
the entry reads "degraded: loading" meanwhile; the rest of the daemon starts at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from edge.facepay.limits import clear_pending
from edge.facepay.metrics import TEMPLATES
from edge.facepay.modelstatus import ModelStatus
from edge.facepay.service import FaceBackOffice, FaceServices, build_services
from edge.platform.context import Component, Context
from edge.platform.observability import ComponentHealth
from edge.platform.worker import Worker

if TYPE_CHECKING:
    from fastapi import APIRouter

log = logging.getLogger(__name__)
RETENTION_EVERY_S = 3600.0


class FacepayComponent(Component):
    name = "facepay"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        reg = ctx.services
        self.services: FaceServices = ctx.keep(
            build_services(
                ctx.settings.facepay,
                ctx.settings.model_dir,
                ctx.store,
                ctx.secrets,
                cameras=lambda: reg.cameras,
                carts=lambda: reg.carts,
            )
        )
        ctx.keep(self.services.enrolment)
        ctx.keep(self.services.verification)
        self.admin = FaceBackOffice(self.services.enrolment, ModelStatus(ctx.settings.model_dir))
        reg.facepay, reg.faces = self.services.verification, self.admin
        if reg.downsync is not None:
            reg.downsync.register("member_erasure", self.admin.apply_erasures)
        rt = self.services.runtime
        TEMPLATES.set_function(lambda: float(len(rt.gallery)) if rt.gallery is not None else 0.0)
        self.retention = Worker("face-retention", self._retention_loop)

    async def start(self) -> None:
        _no_core_dumps()
        await asyncio.to_thread(self._clear_pending)
        self.services.runtime.start_background(on_loaded=self.services.enrolment.load_gallery)
        self.retention.start()

    def _clear_pending(self) -> None:
        with self.ctx.store.write() as s:
            if cleared := clear_pending(s):
                log.warning("face-pay: %d attempt(s) interrupted by the last stop no longer block", cleared)

    def _retention_loop(self, w: Worker) -> None:
        while not w.stopping:
            try:
                gone = self.services.enrolment.purge_expired()
                if gone:
                    log.info("erased %d face templates past their retention period", gone)
            except Exception:
                log.exception("face template retention sweep failed")
            w.sleep(RETENTION_EVERY_S)

    async def stop(self) -> None:
        await asyncio.to_thread(self.retention.stop, 3.0)

    def health(self) -> dict[str, ComponentHealth]:
        rt = self.services.runtime
        status = {"ok": "ok", "loading": "degraded"}.get(rt.status, "down")
        reason = "loading" if rt.status == "loading" else rt.reason
        details = {"model_dir": str(rt.model_dir)}
        if rt.models is not None:
            details.update(rt.models.versions())
        return {"models": ComponentHealth(status=status, reason=reason[:300], details=details)}  # type: ignore[arg-type]

    def routers(self) -> list[APIRouter]:
        from edge.facepay.router import router

        return [router]


def _no_core_dumps() -> None:
    """Frames live in this process's memory; a core dump would write them to disk."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):  # not on POSIX, or not permitted: systemd's LimitCORE=0
        log.warning("could not disable core dumps; set LimitCORE=0 in the service unit")


def build(ctx: Context) -> Component:
    return FacepayComponent(ctx)
