"""Login for store IT, and the dashboard's devices and users: listed, added, revoked, disabled.

Every change is a staff action: a store-IT login, a reason, and an audit row that says who and
why (edge.access.service). The browser's requests ride on the session cookie, so edge/api/origin.py
refuses any that another origin's page sends."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from edge.access.models import (
    DeviceIn,
    DevicePublic,
    DeviceToken,
    DisableIn,
    LoginIn,
    LoginOut,
    RevokeIn,
    UserAccount,
    UserIn,
    UserPublic,
)
from edge.access.service import SESSION_TTL_S, AccessService
from edge.platform.errors import Conflict, NotFound
from edge.platform.identity import HANDHELD_ROLES
from edge.platform.web import SESSION_COOKIE, CtxDep, Ident, PrincipalDep, StaffDep

router = APIRouter(prefix="/api", tags=["access"])
_NO_STORE = {"Cache-Control": "no-store"}


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


class MeOut(BaseModel):
    """Who is asking, and what the server lets them do, so pages never repeat the role rules."""

    kind: Literal["user", "device"]
    id: str
    role: str
    leads_floor: bool = Field(description="May answer a task or call a colleague claimed (supervisor, manager, IT).")
    handheld: bool = Field(description="A staff handheld (guide, supervisor, manager) or store IT.")


@router.get("/auth/me", response_model=MeOut)
def me(principal: PrincipalDep) -> MeOut:
    return MeOut(
        kind=principal.kind, id=principal.id, role=principal.role, leads_floor=principal.leads_floor,
        handheld=principal.kind == "user" or principal.role in HANDHELD_ROLES,
    )  # fmt: skip


# --- devices -----------------------------------------------------------------------------------
@router.get("/admin/devices", response_model=list[DevicePublic])
def devices(_staff: StaffDep, ctx: CtxDep) -> list[DevicePublic]:
    access: AccessService = ctx.own(AccessService)
    return access.list_devices()


@router.post("/admin/devices", response_model=DeviceToken, status_code=201)
def add_device(body: DeviceIn, staff: StaffDep, response: Response, ctx: CtxDep) -> DeviceToken:
    """Register a kiosk, handheld or gate. The answer carries its token, the only time it is ever
    shown (only a hash is kept): pair the device now (type it, or scan the dashboard's QR of it)."""
    access: AccessService = ctx.own(AccessService)
    token = access.add_device(body.id, body.role, body.name, actor=staff.label, reason=body.reason)
    response.headers.update(_NO_STORE)
    return DeviceToken(device=access.device(body.id), token=token)


@router.delete("/admin/devices/{device_id}", response_model=DevicePublic)
def revoke_device(device_id: Ident, body: RevokeIn, staff: StaffDep, ctx: CtxDep) -> DevicePublic:
    """Revoke a device's token at once (its next request is refused); the row stays, as revoked."""
    access: AccessService = ctx.own(AccessService)
    access.revoke_device(device_id, actor=staff.label, reason=body.reason)
    return access.device(device_id)


# --- users -------------------------------------------------------------------------------------
def _user_view(u: UserAccount) -> UserPublic:
    return UserPublic(username=u.username, role=u.role, disabled=u.disabled, created_at=u.created_at)


def _find_user(access: AccessService, username: str) -> UserAccount:
    found = next((u for u in access.list_users() if u.username == username), None)
    if found is None:
        raise NotFound(f"no user {username!r}", code="no_user")
    return found


@router.get("/admin/users", response_model=list[UserPublic])
def users(_staff: StaffDep, ctx: CtxDep) -> list[UserPublic]:
    """Store-IT accounts (never their password hashes)."""
    return [_user_view(u) for u in ctx.own(AccessService).list_users()]


@router.post("/admin/users", response_model=UserPublic, status_code=201)
def add_user(body: UserIn, staff: StaffDep, ctx: CtxDep) -> UserPublic:
    """A new store-IT login (argon2-hashed password, at least 10 characters)."""
    access: AccessService = ctx.own(AccessService)
    access.add_user(body.username, body.password, body.role, actor=staff.label, reason=body.reason)
    return _user_view(_find_user(access, body.username))


@router.post("/admin/users/{username}/disable", response_model=UserPublic)
def disable_user(username: Ident, body: DisableIn, staff: StaffDep, ctx: CtxDep) -> UserPublic:
    """Disable a login: its sessions end at once, everywhere. Nobody disables their own (so the
    store always keeps at least the login that is acting)."""
    if username == staff.id:
        raise Conflict("you cannot disable your own login; ask another store-IT user", code="cannot_disable_self")
    access: AccessService = ctx.own(AccessService)
    access.end_sessions(username, actor=staff.label, disable=True, reason=body.reason)
    return _user_view(_find_user(access, username))
