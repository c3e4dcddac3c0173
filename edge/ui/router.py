"""Page support API: store facts for formatting, QR images, and the dashboard's metrics history."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field

from edge import __version__
from edge.platform.context import need
from edge.platform.paths import ui_dir
from edge.platform.text import SafeStr
from edge.platform.web import CtxDep, KioskDep, PrincipalDep, StaffDep, answers
from edge.ui.metrics import MetricsRing
from edge.ui.preview import face_camera, preview_jpeg
from edge.ui.qr import qr_svg
from edge.ui.state import UiState

router = APIRouter(tags=["ui"])

LANGUAGES = ("zh-CN", "en")


def _ring(ctx: CtxDep) -> MetricsRing:
    return ctx.own(UiState).ring


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    """Pages served outside /ui (the room-code refusal page) still get an icon, not a 404."""
    return FileResponse(ui_dir() / "common" / "icon.svg", media_type="image/svg+xml")


@router.get("/api/ui/store")
def store(ctx: CtxDep) -> dict[str, Any]:
    """What every page needs to format money and time the store's way (public, no secrets)."""
    s = ctx.settings.store
    return {
        "id": s.id,
        "name": s.name,
        "timezone": s.timezone,
        "currency": s.currency,
        "node": s.node,
        "languages": list(LANGUAGES),
        "checkout": {
            "mode": ctx.settings.checkout.mode,
            "session_idle_s": getattr(ctx.settings.checkout, "session_idle_s", 300),
            "exit_pass_ttl_s": ctx.settings.checkout.exit_pass_ttl_s,
        },
        "version": __version__,
    }


@router.get("/api/ui/qr.svg", response_class=Response, responses=answers("image/svg+xml"))
def qr(_who: PrincipalDep, text: Annotated[SafeStr, Query(min_length=1, max_length=1500)]) -> Response:
    """Any short text as a QR code (exit passes, room codes); a pure function of its input.
    Devices and staff only: anonymous callers would get a free CPU-bound renderer."""
    return Response(qr_svg(text), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


class QrIn(BaseModel):
    text: SafeStr = Field(min_length=1, max_length=1500)


@router.post("/api/ui/qr.svg", response_class=Response, responses=answers("image/svg+xml"))
def qr_post(_who: PrincipalDep, body: QrIn) -> Response:
    """The same, for texts that should not sit in a URL (exit passes)."""
    return Response(qr_svg(body.text), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@router.get("/api/admin/transactions")
def transactions(
    _staff: StaffDep,
    ctx: CtxDep,
    q: Annotated[SafeStr, Query(max_length=64, description="Order id, kiosk, member id or status.")] = "",
    limit: int = Query(default=100, ge=1, le=500),
) -> list[dict[str, Any]]:
    """Orders, refunds and voids, newest first; receipts via /api/orders/{id}/receipt."""
    return need(ctx.services.sales, "checkout").transactions(q, limit)


@router.get("/api/admin/models")
def models(_staff: StaffDep, ctx: CtxDep) -> dict[str, Any]:
    """Face models: version and sha256 check against the manifest (cached per file)."""
    return need(ctx.services.faces, "face-pay").models_status()


@router.get("/api/admin/scans/recent")
def recent_scans(
    _staff: StaffDep, ctx: CtxDep, camera: Annotated[SafeStr | None, Query(max_length=64)] = None
) -> list[dict[str, Any]]:
    """The last codes the cameras read (untrusted text, shown with textContent)."""
    return ctx.own(UiState).scans.recent(camera)


@router.get("/api/ui/kiosk/face-camera")
def kiosk_face_camera(who: KioskDep, ctx: CtxDep) -> dict[str, Any]:
    """Whether this kiosk has a face camera (so the page offers face-pay and a preview)."""
    camera_id = face_camera(ctx.services.cameras, who.id)
    return {"available": camera_id is not None, "camera_id": camera_id}


@router.get("/api/ui/kiosk/face-preview.jpg", response_class=Response, responses=answers("image/jpeg"))
def kiosk_face_preview(who: KioskDep, ctx: CtxDep) -> Response:
    jpeg = preview_jpeg(ctx.services.cameras, who.id)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/api/admin/metrics/history")
def history(
    _staff: StaffDep,
    ctx: CtxDep,
    names: Annotated[SafeStr | None, Query(max_length=4000, description="Comma-separated series names.")] = None,
    since: float | None = Query(default=None, ge=0, le=1e11, description="Only samples after this unix time."),
) -> dict[str, Any]:
    wanted = [n for n in (names or "").split(",") if n] or None
    return _ring(ctx).snapshot(wanted, since)


@router.get("/api/admin/metrics/stream", response_class=StreamingResponse, responses=answers("text/event-stream"))
async def stream(_staff: StaffDep, ctx: CtxDep, request: Request) -> StreamingResponse:
    """Server-sent events: one `sample` event per new sample, pings between, until the daemon stops."""
    ring = _ring(ctx)
    stopping = ctx.own(UiState).stopping

    async def events() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        seen = ring.seq
        ticks = 0
        while not stopping.is_set() and not await request.is_disconnected():
            latest = ring.latest()
            if latest is not None and ring.seq != seen:
                seen = ring.seq
                t, values = latest
                yield f"event: sample\ndata: {json.dumps({'t': t, 'values': values})}\n\n"
            elif ticks % 15 == 0:
                yield ": ping\n\n"
            ticks += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=1.0)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
