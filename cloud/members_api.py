"""The receiver's chain routes (admin): members in, campaigns into wallets, erasure everywhere,
and guides' attributed sales across the stores."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from cloud import guides, keys, members, pgstore

MAX_BODY = 8 * 1024 * 1024


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def member_routes(pool: pgstore.Pool, admin: Callable[[Request], Response | None], master: bytes | None) -> APIRouter:
    router = APIRouter()

    async def in_db(fn: Any, *args: Any) -> Any:
        def run() -> Any:
            with pool.connection() as conn:
                return fn(conn, *args)

        return await run_in_threadpool(run)

    def lookup_key(conn: members.Conn) -> bytes:
        assert master is not None
        return keys.active_key(conn, master, "chain", "lookup")

    async def checked_admin(request: Request, check: Callable[[Any], Any], code: str) -> Any:
        """The checked body of an admin call, or the 401 / 422 Response to answer."""
        denied = admin(request)
        if denied is not None:
            return denied
        checked = check(await _body(request))
        return _error(422, code, checked) if isinstance(checked, str) else checked

    @router.put("/v1/admin/members")
    async def upsert_members(request: Request) -> Response:
        """Create or change members (up to 10,000 a call); every store receives them."""
        checked = await checked_admin(request, members.check_members, "invalid_members")
        if isinstance(checked, Response):
            return checked
        if master is None and any(m["phone"] for m in checked):
            return _error(503, "keys_not_configured", "phone lookups need the chain's keys (CLOUD_RECEIVER_MASTER_KEY)")

        def run(conn: members.Conn) -> dict[str, Any]:
            key = lookup_key(conn) if master is not None else b""
            return members.upsert(conn, key, checked)

        return JSONResponse(await in_db(run))

    @router.post("/v1/admin/campaigns")
    async def campaign(request: Request) -> Response:
        """Issue a campaign's coupons into members' wallets; each store receives the wallets it serves."""
        checked = await checked_admin(request, members.check_campaign, "invalid_campaign")
        if isinstance(checked, Response):
            return checked
        return JSONResponse(await in_db(members.issue, checked), status_code=201)

    @router.post("/v1/admin/members/{member_id}/erase")
    async def erase(member_id: str, request: Request) -> Response:
        """Erase a member in the cloud and in every store (face template included); their coupons stop."""
        denied = admin(request)
        if denied is not None:
            return denied
        body = await _body(request)
        reason = body.get("reason") if isinstance(body, dict) else None
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
            return _error(422, "reason_required", "give the erasure's reason (1 to 200 characters)")
        if not members.MEMBER_ID.match(member_id):
            return _error(404, "member_unknown", "no such member")
        if not await in_db(members.erase, member_id, reason.replace("\x00", "")):
            return _error(404, "member_unknown", "no such member")
        return JSONResponse({"erased": member_id})

    @router.get("/v1/admin/members/{member_id}/receipts")
    async def member_receipts(member_id: str, request: Request) -> Response:
        """A member's history: their orders' receipts from every store, newest first."""
        denied = admin(request)
        if denied is not None:
            return denied
        if not members.MEMBER_ID.match(member_id):
            return _error(404, "member_unknown", "no such member")
        receipts = await in_db(members.history, member_id)
        if receipts is None:
            return _error(404, "member_unknown", "no such member (or erased)")
        return JSONResponse({"member_id": member_id, "receipts": receipts})

    @router.get("/v1/admin/guides/attribution")
    async def guide_attribution(request: Request, days: int = 30) -> Response:
        """Guides' attributed sales across the chain, per guide and per store where the sale was made."""
        denied = admin(request)
        if denied is not None:
            return denied
        if not 1 <= days <= 366:
            return _error(422, "invalid_days", "days is 1 to 366")
        return JSONResponse({"days": days, "guides": await in_db(guides.report, days)})

    return router
