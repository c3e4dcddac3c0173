"""Thin HTTP layer for store IT: camera list with health, and the latest frame as JPEG."""

from __future__ import annotations

from fastapi import APIRouter, Path
from fastapi.responses import Response

from edge.cameras.models import CameraPublic
from edge.cameras.service import CameraService
from edge.platform.web import CtxDep, StaffDep, answers

router = APIRouter(prefix="/api/cameras", tags=["cameras"])
_ID = r"^[A-Za-z0-9_.-]{1,64}$"


def _svc(ctx: CtxDep) -> CameraService:
    return ctx.own(CameraService)


@router.get("", response_model=list[CameraPublic])
def list_cameras(ctx: CtxDep, _staff: StaffDep) -> list[CameraPublic]:
    return [CameraPublic(**row) for row in _svc(ctx).describe()]


@router.get("/{camera_id}/snapshot.jpg", response_class=Response, responses=answers("image/jpeg"))
def snapshot(ctx: CtxDep, _staff: StaffDep, camera_id: str = Path(pattern=_ID)) -> Response:
    body = _svc(ctx).snapshot_jpeg(camera_id)
    return Response(content=body, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
