"""Thin HTTP layer of the staff tasks (checkout.tasks): the handhelds' queue, "call staff", and the
gate screen's live feed of passes opened and refused."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from edge.checkout.events import GateOpenEvent, PassRefused, TaskChanged
from edge.checkout.schemas import MAX_INT, MissingItemIn
from edge.checkout.service import CheckoutServices
from edge.checkout.tasks import StaffTasks
from edge.platform.context import need
from edge.platform.sse import bus_frames, frame
from edge.platform.text import SafeStr
from edge.platform.timeutil import utcnow
from edge.platform.web import CtxDep, GateDep, GuideDep, Ident, KioskDep, answers

staff = APIRouter(prefix="/api/staff", tags=["staff tasks"])
_NO_STORE = {"Cache-Control": "no-store"}
kiosk = APIRouter(prefix="/api/kiosk", tags=["kiosk"])
gate = APIRouter(prefix="/api/gate", tags=["gate"])


class HelpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="One id per press: a resent request (its answer lost) never raises a second task.",
    )  # fmt: skip


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["approved", "refused", "helped", "match", "mismatch", "waved", "taken"] = Field(
        description="id_check: approved | refused; kiosk_help: helped; exit_audit: match | mismatch | waved; "
        "pack_pull: taken."
    )
    reason: SafeStr = Field(default="", max_length=200, description="Required to refuse or to wave through.")
    missing: list[MissingItemIn] = Field(default_factory=list, max_length=200, description="A mismatch's items.")
    version: int | None = Field(
        default=None, ge=1, le=MAX_INT, description="The task's version the answer was given on: 409 "
        "task_changed if it moved since (another pack joined a pull task)."
    )  # fmt: skip


def _tasks(ctx: CtxDep) -> StaffTasks:
    return ctx.own(StaffTasks)


@staff.get("/tasks")
def tasks(p: GuideDep, ctx: CtxDep, done: bool = False) -> list[dict[str, Any]]:
    """Open and claimed tasks, oldest first (with `done=true`, answered ones too)."""
    return _tasks(ctx).listing(include_done=done)


@staff.post("/tasks/{task_id}/claim")
def claim(task_id: Ident, p: GuideDep, ctx: CtxDep) -> dict[str, Any]:
    return _tasks(ctx).claim(task_id, p.label)


@staff.post("/tasks/{task_id}/resolve")
def resolve(task_id: Ident, body: ResolveIn, p: GuideDep, ctx: CtxDep) -> dict[str, Any]:
    missing = [m.model_dump() for m in body.missing]
    return _tasks(ctx).resolve(task_id, p.label, body.outcome, body.reason, missing, p.leads_floor, body.version)


@staff.post("/frames")
async def rescan_frame(
    request: Request,
    p: GuideDep,
    ctx: CtxDep,
    x_frame_id: Annotated[str | None, Header(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = None,
) -> dict[str, Any]:
    """One JPEG/PNG/WebP frame of the handheld's camera during an exit rescan: the codes it confirms."""
    data = await request.body()
    frames = need(ctx.services.frames, "scanning")
    return await run_in_threadpool(_tasks(ctx).rescan_frame, frames, p.id, data, x_frame_id)


@staff.get("/events", response_class=StreamingResponse, responses=answers("text/event-stream"))
async def events(request: Request, p: GuideDep, ctx: CtxDep) -> StreamingResponse:
    """SSE: `tasks` (the whole queue) on connect, then `task` for each change."""
    tasks = _tasks(ctx)
    stream = bus_frames(
        request, ctx.bus, (TaskChanged,), lambda ev: ("task", ev.task), first=lambda: [frame("tasks", tasks.listing())]
    )
    return StreamingResponse(stream, media_type="text/event-stream", headers=_NO_STORE)


@kiosk.post("/sessions/{session_id}/help", status_code=201)
def call_staff(session_id: Ident, p: KioskDep, ctx: CtxDep, body: HelpIn | None = None) -> dict[str, Any]:
    """The shopper asks for a person: one open help task per cart, however often it is pressed."""
    kiosk_id = p.id if p.kind == "device" else None
    cart = ctx.own(CheckoutServices).sessions.view(session_id, kiosk_id)
    return _tasks(ctx).ask_for_help(cart.kiosk_id, session_id, body.request_id if body else None)


@gate.get("/events", response_class=StreamingResponse, responses=answers("text/event-stream"))
async def gate_events(request: Request, p: GateDep, ctx: CtxDep) -> StreamingResponse:
    """SSE for the gate's screen: `pass` {open, order_id, audit | reason, at} for each pass read at
    this gate (a staff login sees every gate)."""
    mine = p.id if p.kind == "device" else None

    def pick(ev: GateOpenEvent | PassRefused) -> tuple[str, dict[str, Any]] | None:
        if mine is not None and ev.gate_id != mine:
            return None
        if isinstance(ev, GateOpenEvent):
            item = {"open": True, "gate_id": ev.gate_id, "order_id": ev.order_id, "audit": ev.audit}
        else:
            item = {"open": False, "gate_id": ev.gate_id, "reason": ev.reason}
        return "pass", {**item, "at": utcnow().isoformat()}

    stream = bus_frames(request, ctx.bus, (GateOpenEvent, PassRefused), pick)
    return StreamingResponse(stream, media_type="text/event-stream", headers=_NO_STORE)


ROUTERS = [staff, kiosk, gate]
