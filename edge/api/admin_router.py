"""The effective configuration for the dashboard, secrets masked (the whole settings tree is the
composition root's to describe)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from edge.config import describe
from edge.platform.security import mask_secrets
from edge.platform.web import CtxDep, StaffDep

router = APIRouter(prefix="/api", tags=["access"])


@router.get("/admin/config")
def config(_staff: StaffDep, ctx: CtxDep) -> dict[str, Any]:
    data: dict[str, Any] = mask_secrets(describe(ctx.settings))
    data["secrets"] = {name: "***" for name in ctx.secrets.names()}
    return data
