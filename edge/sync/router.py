"""Dashboard API of sync (store IT only): status, quarantine, requeue/discard, poll down-sync now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from edge.platform.text import SafeStr
from edge.platform.web import CtxDep, Ident, StaffDep
from edge.sync.models import QuarantinePage, SyncStatus
from edge.sync.service import SyncService

router = APIRouter(prefix="/api/sync", tags=["sync"])


def _svc(ctx: CtxDep) -> SyncService:
    return ctx.own(SyncService)


@router.get("/status", response_model=SyncStatus)
def status(ctx: CtxDep, _staff: StaffDep) -> SyncStatus:
    return _svc(ctx).status()


@router.get("/quarantine", response_model=QuarantinePage)
def quarantine(
    ctx: CtxDep,
    _staff: StaffDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    stream: Annotated[SafeStr | None, Query(max_length=32)] = None,
) -> QuarantinePage:
    return _svc(ctx).quarantine(limit, offset, stream)


@router.post("/quarantine/{event_id}/requeue", status_code=204)
def requeue(event_id: Ident, ctx: CtxDep, staff: StaffDep) -> None:
    _svc(ctx).requeue(event_id, actor=staff.label)


@router.post("/quarantine/{event_id}/discard", status_code=204)
def discard(event_id: Ident, ctx: CtxDep, staff: StaffDep) -> None:
    _svc(ctx).discard(event_id, actor=staff.label)


@router.post("/downsync/poll", status_code=202)
def poll_downsync(ctx: CtxDep, _staff: StaffDep) -> dict[str, str]:
    svc = _svc(ctx)
    if svc.downsync is not None:
        svc.downsync.poll_now()
    return {"status": "polling" if svc.downsync is not None else "downsync is off"}
