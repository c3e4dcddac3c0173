"""Thin HTTP routers: kiosk (device token), gate (device token), staff (login). See docs/checkout.md."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

import segno
from fastapi import APIRouter, Request, Response
from fastapi import Path as FPath
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from edge.checkout import audits
from edge.checkout.events import CartChanged
from edge.checkout.payments import Simulation
from edge.checkout.schemas import (
    MAX_INT,
    AddItemIn,
    CartView,
    CheckoutIn,
    CheckoutOut,
    CouponIn,
    CouponIssueIn,
    ExitAuditIn,
    FaceVerifyIn,
    GateIn,
    GateOut,
    ItemAdded,
    MemberCreateIn,
    MemberIn,
    OpenSessionIn,
    PayAgreementIn,
    RefundIn,
    SetQtyIn,
    VoidIn,
)
from edge.checkout.service import CheckoutServices
from edge.platform.context import Context
from edge.platform.errors import InvalidInput, NotFound
from edge.platform.identity import Principal
from edge.platform.web import CtxDep, GateDep, Ident, KioskDep, StaffDep, answers

kiosk = APIRouter(prefix="/api/kiosk", tags=["kiosk"])
gate = APIRouter(prefix="/api/gate", tags=["gate"])
staff = APIRouter(prefix="/api/checkout", tags=["checkout staff"])
receipts = APIRouter(prefix="/api/orders", tags=["receipts"])
T = TypeVar("T")
LineId = Annotated[int, FPath(ge=1, le=MAX_INT, description="The cart line's id.")]


def _svc(ctx: CtxDep) -> CheckoutServices:
    return ctx.own(CheckoutServices)


async def _cart_write(ctx: Context, change: Callable[..., T], *args: Any) -> T:
    """A cart change on the loop when the write slot is free at once (edge.platform.loopwrite)."""
    return await _svc(ctx).cart_writes.run(change, *args)


def _kiosk_id(p: Principal) -> str | None:
    """A kiosk device may only touch its own sessions and orders; staff may touch any."""
    return p.id if p.kind == "device" else None


@kiosk.post("/sessions", status_code=201)
async def open_session(body: OpenSessionIn, p: KioskDep, ctx: CtxDep) -> CartView:
    kiosk_id = _kiosk_id(p) or body.kiosk_id
    if not kiosk_id:
        raise InvalidInput("staff opening a session name the kiosk_id", code="kiosk_id_required")
    sessions = _svc(ctx).sessions
    if body.resume:
        return await run_in_threadpool(sessions.resume, kiosk_id)
    return await _cart_write(ctx, sessions.open, kiosk_id)


@kiosk.get("/sessions/{session_id}")
def get_session(session_id: Ident, p: KioskDep, ctx: CtxDep) -> CartView:
    return _svc(ctx).sessions.view(session_id, _kiosk_id(p))  # a thread: it may expire an idle cart


@kiosk.post("/sessions/{session_id}/items", status_code=201)
async def add_item(session_id: Ident, body: AddItemIn, p: KioskDep, ctx: CtxDep) -> ItemAdded:
    sessions = _svc(ctx).sessions
    result: ItemAdded = await _cart_write(ctx, sessions.add_code, session_id, _kiosk_id(p), body.code, body.qty)
    return result


@kiosk.patch("/sessions/{session_id}/lines/{line_id}")
async def set_qty(session_id: Ident, line_id: LineId, body: SetQtyIn, p: KioskDep, ctx: CtxDep) -> CartView:
    return await _cart_write(ctx, _svc(ctx).sessions.set_qty, session_id, _kiosk_id(p), line_id, body.qty)


@kiosk.delete("/sessions/{session_id}/lines/{line_id}")
async def remove_line(session_id: Ident, line_id: LineId, p: KioskDep, ctx: CtxDep) -> CartView:
    return await _cart_write(ctx, _svc(ctx).sessions.set_qty, session_id, _kiosk_id(p), line_id, 0)


@kiosk.post("/sessions/{session_id}/member")
async def attach_member(session_id: Ident, body: MemberIn, p: KioskDep, ctx: CtxDep) -> CartView:
    return await _cart_write(ctx, _svc(ctx).sessions.attach_member, session_id, _kiosk_id(p), body.code, body.phone)


@kiosk.post("/sessions/{session_id}/coupons")
async def apply_coupon(session_id: Ident, body: CouponIn, p: KioskDep, ctx: CtxDep) -> CartView:
    return await _cart_write(ctx, _svc(ctx).sessions.apply_coupon, session_id, _kiosk_id(p), body.code)


@kiosk.post("/sessions/{session_id}/guide")
async def attach_guide(session_id: Ident, body: CouponIn, p: KioskDep, ctx: CtxDep) -> CartView:
    """A guide's personal code (scanned, or typed by the kiosk page): the sale gives them credit."""
    return await _cart_write(ctx, _svc(ctx).sessions.attach_guide, session_id, _kiosk_id(p), body.code)


@kiosk.post("/sessions/{session_id}/face-verify")
def face_verify(session_id: Ident, body: FaceVerifyIn, p: KioskDep, ctx: CtxDep) -> dict[str, Any]:
    return _svc(ctx).face_verify(session_id, _kiosk_id(p), body.member_hint)


@kiosk.post("/sessions/{session_id}/checkout")
def checkout(session_id: Ident, body: CheckoutIn, p: KioskDep, ctx: CtxDep) -> CheckoutOut:
    svc = _svc(ctx)
    credential = body.face_auth_id if body.provider == "face" else None
    if body.provider == "qr":  # typed/scanned by the page, or read by the kiosk camera a moment ago
        credential = body.payment_code or svc.take_payment_code(session_id)
    sim = Simulation(body.simulate.outcome, body.simulate.delay_ms) if body.simulate else None
    return svc.checkout.checkout(
        session_id,
        _kiosk_id(p),
        provider=body.provider,
        credential=credential,
        client_key=body.idempotency_key,
        simulation=sim,
        actor=p.label,
        expected_total_minor=body.expected_total_minor,
    )


@kiosk.get("/sessions/{session_id}/events", response_class=StreamingResponse, responses=answers("text/event-stream"))
async def session_events(session_id: Ident, request: Request, p: KioskDep, ctx: CtxDep) -> StreamingResponse:
    """SSE: `cart` (the whole cart) on connect and after each change; `alert` for problems."""
    svc = _svc(ctx)
    first = await run_in_threadpool(svc.sessions.view, session_id, _kiosk_id(p))
    queue: asyncio.Queue[CartChanged] = asyncio.Queue(maxsize=64)

    def put(ev: CartChanged) -> None:
        if ev.session_id == session_id or (ev.kiosk_id == first.kiosk_id and not ev.session_id):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(ev)

    async def stream() -> AsyncIterator[str]:
        ctx.bus.subscribe(CartChanged, put)
        try:
            yield _sse("cart", first.model_dump_json())
            while not await request.is_disconnected():
                try:
                    ev = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if ev.alert:
                    yield _sse("alert", json.dumps(ev.alert))
                if ev.version >= 0:
                    view = await run_in_threadpool(svc.sessions.view, session_id)
                    yield _sse("cart", view.model_dump_json())
        finally:
            ctx.bus.unsubscribe(CartChanged, put)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


def _sse(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


@kiosk.get("/orders/{order_id}/pass.svg", response_class=Response, responses=answers("image/svg+xml"))
def pass_svg(order_id: Ident, p: KioskDep, ctx: CtxDep) -> Response:
    token = _svc(ctx).pass_token(order_id, _kiosk_id(p))
    buf = io.BytesIO()  # a standalone SVG (with xmlns), so it also shows as an <img>
    segno.make(token, error="m").save(buf, kind="svg", scale=6, border=4, xmldecl=False, svgns=True)
    return Response(buf.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@gate.post("/verify")
def verify_pass(body: GateIn, p: GateDep, ctx: CtxDep) -> GateOut:
    gate_id = p.id if p.kind == "device" else (body.gate_id or "staff")
    return _svc(ctx).gate.verify(gate_id, body.text)


@receipts.get("/{order_id}/receipt")
def receipt(order_id: Ident, p: KioskDep, ctx: CtxDep) -> dict[str, Any]:
    return _svc(ctx).aftersale.receipt(order_id, _kiosk_id(p))


@receipts.get("/{order_id}/receipt.html", response_class=HTMLResponse)
def receipt_html(order_id: Ident, p: KioskDep, ctx: CtxDep) -> HTMLResponse:
    return HTMLResponse(_svc(ctx).aftersale.receipt_html(order_id, _kiosk_id(p)))


@staff.post("/orders/{order_id}/void")
def void(order_id: Ident, body: VoidIn, p: StaffDep, ctx: CtxDep) -> dict[str, Any]:
    return _svc(ctx).aftersale.void(order_id, p.label, body.reason)


@staff.post("/orders/{order_id}/refund")
def refund(order_id: Ident, body: RefundIn, p: StaffDep, ctx: CtxDep) -> dict[str, Any]:
    lines = [line.model_dump() for line in body.lines] if body.lines is not None else None
    return _svc(ctx).aftersale.refund(order_id, p.label, lines, body.reason)


@staff.post("/orders/{order_id}/exit-audit", status_code=201)
def exit_audit(order_id: Ident, body: ExitAuditIn, p: StaffDep, ctx: CtxDep) -> dict[str, Any]:
    """The result of rescanning a flagged basket at the exit; it feeds the member's audit history."""
    missing = [m.model_dump() for m in body.missing]
    return audits.record(_svc(ctx).store, order_id, body.result, missing, body.reason, p.label)


@staff.post("/sessions/{session_id}/age-check")
def age_check(session_id: Ident, p: StaffDep, ctx: CtxDep) -> CartView:
    return _svc(ctx).sessions.approve_age(session_id, p.label)


@staff.post("/members", status_code=201)
def add_member(body: MemberCreateIn, p: StaffDep, ctx: CtxDep) -> dict[str, Any]:
    pay = body.pay or PayAgreementIn(rail="")
    return _svc(ctx).aftersale.add_member(body.phone, body.name, p.label, pay.rail, pay.agreement)


@staff.put("/members/{member_id}/pay-agreement")
def set_pay_agreement(member_id: Ident, body: PayAgreementIn, p: StaffDep, ctx: CtxDep) -> dict[str, Any]:
    """Record (or, with an empty rail, remove) the wallet agreement face-pay charges for this member."""
    return _svc(ctx).aftersale.set_pay_agreement(member_id, body.rail, body.agreement, p.label)


@staff.delete("/members/{member_id}")
def erase_member(member_id: Ident, body: VoidIn, p: StaffDep, ctx: CtxDep) -> dict[str, Any]:
    """Erase a member on this box: the loyalty record's phone, name and wallet agreement and, where
    face-pay runs, the face template, phone hash and consent; each audited with the reason and
    queued for the cloud. The member id stays on past orders. The body is {reason}."""
    loyalty = _svc(ctx).aftersale.erase_member(member_id, p.label, body.reason)
    faces = ctx.services.faces
    face = bool(faces.erase_all([(member_id, body.reason)], p.label)) if faces is not None else None
    if not loyalty and not face:
        raise NotFound("no such member", code="unknown_member")
    return {"member_id": member_id, "loyalty_erased": loyalty, "face_erased": face}


@staff.post("/coupons", status_code=201)
def issue_coupons(body: CouponIssueIn, p: StaffDep, ctx: CtxDep) -> dict[str, Any]:
    return _svc(ctx).aftersale.issue_coupons(body, p.label)


ROUTERS = [kiosk, gate, staff, receipts]
