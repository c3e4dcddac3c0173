"""Thin HTTP layer: the phone page (room token, no login) and the guides (device token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from edge.fitting.credit import GuideCredit
from edge.fitting.models import (
    CallCreated,
    CallIn,
    CallPublic,
    GuideActionIn,
    GuideStats,
    ItemIn,
    ItemPublic,
    RoomInfo,
    RoomPublic,
)
from edge.fitting.phones import COOKIE as PHONE_COOKIE
from edge.fitting.phones import COOKIE_TTL_S as PHONE_COOKIE_TTL_S
from edge.fitting.phones import Phone
from edge.fitting.service import FittingService
from edge.fitting.settings import RoomSettings
from edge.fitting.sse import call_stream
from edge.fitting.stats import guide_stats
from edge.platform.errors import Forbidden
from edge.platform.paths import ui_dir
from edge.platform.text import SafeStr
from edge.platform.web import CtxDep, GuideDep, Ident, SignedToken, StaffDep, answers

router = APIRouter(tags=["fitting"])
_SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


async def _svc(ctx: CtxDep) -> FittingService:
    return ctx.own(FittingService)


SvcDep = Annotated[FittingService, Depends(_svc)]


def _source(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _room(token: SignedToken, request: Request, svc: SvcDep) -> RoomSettings:
    """Verified on the loop (one HMAC); only a refusal, which writes an audit row, takes a thread."""
    try:
        return svc.codes.verify(token)
    except Forbidden as exc:
        where = request.url.path.split("/rooms/")[0]
        await run_in_threadpool(svc.record_refusal, exc, token, _source(request), where)
        raise


RoomDep = Annotated[RoomSettings, Depends(_room)]


async def _phone(request: Request, room: RoomDep, svc: SvcDep) -> Phone:
    """The phone's id from the box's cookie (edge.fitting.phones); without one, its address."""
    return svc.phones.identify(request.cookies.get(PHONE_COOKIE), room.id, _source(request))


PhoneDep = Annotated[Phone, Depends(_phone)]


# --- the phone page ---------------------------------------------------------------------
@router.get("/fit/{token}", include_in_schema=False, response_model=None)
def phone_page(token: str, request: Request, svc: SvcDep) -> Response:
    try:
        room = svc.room_for(token, _source(request), "/fit")
    except Forbidden as exc:
        status = 400 if exc.details.get("reason") == "malformed" else 403
        refusal = svc.refusal_page(request.headers.get("accept-language", ""))
        return HTMLResponse(refusal, status_code=status, headers={"Cache-Control": "no-store"})
    svc.open_page(room)
    page = ui_dir() / "fitting" / "index.html"
    response = FileResponse(page, media_type="text/html", headers={"Cache-Control": "no-store"})
    if svc.phones.valid_for(request.cookies.get(PHONE_COOKIE), room.id) is None:
        response.set_cookie(
            PHONE_COOKIE,
            svc.phones.issue(room.id),
            max_age=PHONE_COOKIE_TTL_S,
            httponly=True,
            samesite="strict",
            path="/",
        )
    return response


@router.get("/api/fitting/rooms/{token}", response_model=RoomPublic)
def room_view(room: RoomDep, phone: PhoneDep, svc: SvcDep) -> RoomPublic:
    return svc.room_view(room, phone)


@router.post("/api/fitting/rooms/{token}/items", response_model=ItemPublic, status_code=201)
def add_item(room: RoomDep, body: ItemIn, svc: SvcDep) -> ItemPublic:
    return svc.visits.add_item(room.id, body.code, "page")


@router.post("/api/fitting/rooms/{token}/calls", response_model=CallCreated, status_code=201)
def open_call(room: RoomDep, body: CallIn, phone: PhoneDep, svc: SvcDep) -> Any:
    call, merged = svc.calls.open_call(room, body, phone)
    out = CallCreated(call=call, merged=merged)
    return JSONResponse(out.model_dump(mode="json"), status_code=200 if merged else 201)


@router.post("/api/fitting/rooms/{token}/calls/{call_id}/cancel", response_model=CallPublic)
def cancel_call(room: RoomDep, call_id: Ident, phone: PhoneDep, svc: SvcDep) -> CallPublic:
    return svc.calls.cancel(room, call_id, phone)


@router.get(
    "/api/fitting/rooms/{token}/events", response_class=StreamingResponse, responses=answers("text/event-stream")
)
def room_events(room: RoomDep, phone: PhoneDep, svc: SvcDep, ctx: CtxDep) -> StreamingResponse:
    def snapshot() -> list[dict[str, Any]]:
        return [c.model_dump(mode="json") for c in svc.room_view(room, phone).calls]

    stream = call_stream(ctx.bus, snapshot, room_id=room.id, phone_id=phone.id)
    return StreamingResponse(stream, media_type="text/event-stream", headers=_SSE_HEADERS)


# --- guides and the floor manager -------------------------------------------------------
@router.get("/api/fitting/rooms", response_model=list[RoomInfo])
def list_rooms(_who: GuideDep, svc: SvcDep) -> list[RoomInfo]:
    return svc.rooms()


@router.get("/api/fitting/calls", response_model=list[CallPublic])
def list_calls(
    _who: GuideDep, svc: SvcDep, zone: Annotated[SafeStr | None, Query(max_length=32)] = None
) -> list[CallPublic]:
    return svc.calls.active(zone)


@router.get("/api/fitting/calls/{call_id}", response_model=CallPublic)
def get_call(call_id: Ident, _who: GuideDep, svc: SvcDep) -> CallPublic:
    return svc.calls.get(call_id)


@router.post("/api/fitting/calls/{call_id}/claim", response_model=CallPublic)
def claim_call(call_id: Ident, who: GuideDep, svc: SvcDep, body: GuideActionIn | None = None) -> CallPublic:
    event_id = body.event_id if body else None
    return svc.calls.claim(call_id, who.id, event_id=event_id, source="http")


@router.post("/api/fitting/calls/{call_id}/resolve", response_model=CallPublic)
def resolve_call(call_id: Ident, who: GuideDep, svc: SvcDep, body: GuideActionIn | None = None) -> CallPublic:
    body = body or GuideActionIn()
    return svc.calls.resolve(
        call_id, who.id, manager=who.leads_floor, event_id=body.event_id, source="http", release=body.release
    )


@router.get("/api/fitting/events", response_class=StreamingResponse, responses=answers("text/event-stream"))
def guide_events(_who: GuideDep, svc: SvcDep, ctx: CtxDep) -> StreamingResponse:
    def snapshot() -> list[dict[str, Any]]:
        return [c.model_dump(mode="json") for c in svc.calls.active()]

    return StreamingResponse(call_stream(ctx.bus, snapshot), media_type="text/event-stream", headers=_SSE_HEADERS)


@router.get("/api/fitting/guide-code")
def my_guide_code(who: GuideDep, ctx: CtxDep) -> dict[str, Any]:
    """The handheld's personal code: a shopper who scans it gives this guide credit for the sale."""
    return ctx.own(GuideCredit).code_for(who.id)


@router.get("/api/fitting/performance")
def performance(_who: StaffDep, ctx: CtxDep, days: Annotated[int, Query(ge=1, le=90)] = 7) -> dict[str, Any]:
    """Per guide and per style: tried, calls, response time, bought, conversion, attributed sales."""
    return ctx.own(GuideCredit).performance(days)


@router.get("/api/fitting/stats", response_model=list[GuideStats])
def stats(_who: GuideDep, ctx: CtxDep, days: Annotated[int, Query(ge=1, le=90)] = 7) -> list[GuideStats]:
    return guide_stats(ctx.store, days)
