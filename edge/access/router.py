"""Login for store IT, and the lists of users and devices for the dashboard."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from edge.access.models import DevicePublic, LoginIn, LoginOut
from edge.access.service import SESSION_TTL_S, AccessService
from edge.platform.identity import Principal
from edge.platform.web import SESSION_COOKIE, CtxDep, PrincipalDep, StaffDep

router = APIRouter(prefix="/api", tags=["access"])


@router.post("/auth/login", response_model=LoginOut)
def login(body: LoginIn, request: Request, response: Response, ctx: CtxDep) -> LoginOut:
    access: AccessService = ctx.own(AccessService)
    token = access.login(body.username, body.password, client=request.client.host if request.client else "")
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_TTL_S, httponly=True, samesite="strict", path="/")
    return LoginOut(token=token, username=body.username, expires_in_s=SESSION_TTL_S)


@router.post("/auth/logout")
def logout(response: Response, principal: PrincipalDep, ctx: CtxDep) -> dict[str, bool]:
    """Ends every session of this user (cookie and bearer tokens alike), not just this browser's."""
    if principal.kind == "user":
        access: AccessService = ctx.own(AccessService)
        access.end_sessions(principal.id, actor=principal.label)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"ok": True}


@router.get("/auth/me", response_model=Principal)
def me(principal: PrincipalDep) -> Principal:
    return principal


@router.get("/admin/devices", response_model=list[DevicePublic])
def devices(_staff: StaffDep, ctx: CtxDep) -> list[DevicePublic]:
    access: AccessService = ctx.own(AccessService)
    return access.list_devices()


@router.get("/admin/users")
def users(_staff: StaffDep, ctx: CtxDep) -> list[dict[str, Any]]:
    """Store-IT accounts (never their password hashes)."""
    return [
        {"username": u.username, "role": u.role, "disabled": u.disabled, "created_at": u.created_at.isoformat()}
        for u in ctx.own(AccessService).list_users()
    ]
