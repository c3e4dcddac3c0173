"""Login for store IT, device listing, and the read-only masked config."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from edge.access.models import DevicePublic, LoginIn, LoginOut, Principal
from edge.access.service import SESSION_TTL_S, AccessService
from edge.config import describe
from edge.platform.security import mask_secrets
from edge.platform.web import SESSION_COOKIE, CtxDep, PrincipalDep, StaffDep

router = APIRouter(prefix="/api", tags=["access"])


@router.post("/auth/login", response_model=LoginOut)
def login(body: LoginIn, request: Request, response: Response, ctx: CtxDep) -> LoginOut:
    access: AccessService = ctx.require("access")
    token = access.login(body.username, body.password, client=request.client.host if request.client else "")
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_TTL_S, httponly=True, samesite="strict", path="/")
    return LoginOut(token=token, username=body.username, expires_in_s=SESSION_TTL_S)


@router.post("/auth/logout")
def logout(response: Response, principal: PrincipalDep, ctx: CtxDep) -> dict[str, bool]:
    """Ends every session of this user (cookie and bearer tokens alike), not just this browser's."""
    if principal.kind == "user":
        access: AccessService = ctx.require("access")
        access.end_sessions(principal.id, actor=principal.label)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"ok": True}


@router.get("/auth/me", response_model=Principal)
def me(principal: PrincipalDep) -> Principal:
    return principal


@router.get("/admin/devices", response_model=list[DevicePublic])
def devices(_staff: StaffDep, ctx: CtxDep) -> list[DevicePublic]:
    access: AccessService = ctx.require("access")
    return access.list_devices()


@router.get("/admin/config")
def config(_staff: StaffDep, ctx: CtxDep) -> dict[str, Any]:
    data: dict[str, Any] = mask_secrets(describe(ctx.settings))
    data["secrets"] = {name: "***" for name in ctx.secrets.names()}
    return data
