"""Shared FastAPI dependencies for every domain's router: the context, and who is calling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from edge.platform.context import Context, need
from edge.platform.errors import Forbidden
from edge.platform.identity import HANDHELD_ROLES, Principal

SESSION_COOKIE = "re_session"

# Ids and signed tokens in paths: what the box hands out, nothing else (a malformed one is a 422
# before any lookup, and never reaches a log line or a page as free text).
Ident = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_.:@-]{1,80}$", description="An id the box gave out.")]
SignedToken = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_.-]{1,2048}$", description="A signed code.")]


async def get_ctx(request: Request) -> Context:
    """Pure lookups like this one are `async def`: FastAPI runs a plain `def` dependency on a
    worker thread, and each such hop costs a thread hand-off under load."""
    ctx: Context = request.app.state.ctx
    return ctx


CtxDep = Annotated[Context, Depends(get_ctx)]


def _token(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(SESSION_COOKIE, "")


async def current_principal(request: Request, ctx: CtxDep) -> Principal:
    """A device seen in the last minute is answered from memory on the loop; anything else (a
    first request, a staff session) reads the database on a worker thread."""
    access = need(ctx.services.access, "access")
    token = _token(request)
    cached = access.cached_device(token)
    return cached if cached is not None else await run_in_threadpool(access.authenticate, token)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def require_staff(principal: PrincipalDep) -> Principal:
    """Store IT (a logged-in user) only."""
    if principal.kind != "user":
        raise Forbidden("this needs a store-IT login, not a device token", code="staff_only")
    return principal


StaffDep = Annotated[Principal, Depends(require_staff)]


def require_device(*roles: str, allow_staff: bool = True) -> Callable[[Principal], Awaitable[Principal]]:
    """A device of one of these roles (or, by default, a store-IT user acting for one)."""

    async def dep(principal: PrincipalDep) -> Principal:
        if principal.kind == "device" and principal.role in roles:
            return principal
        if principal.kind == "user" and allow_staff:
            return principal
        raise Forbidden(f"this needs a {' or '.join(roles)} device token", code="wrong_device_role")

    return dep


KioskDep = Annotated[Principal, Depends(require_device("kiosk"))]
GuideDep = Annotated[Principal, Depends(require_device(*HANDHELD_ROLES))]
GateDep = Annotated[Principal, Depends(require_device("gate"))]


def answers(media_type: str, description: str = "") -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route whose success is not JSON, so the OpenAPI names what it sends."""
    return {200: {"description": description or f"the {media_type} document", "content": {media_type: {}}}}
