"""Thin HTTP layer of scan-and-go on the phone: the entry page and the phone's cart API.

The phone's cookie (edge.phone.codes) is its only credential: no login, no device token.
Every /api/go/ route answers 401 `no_phone_session` without it, and a cart answers only to the
phone that opened it.
"""

from __future__ import annotations

import html
import io
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi import Path as FPath
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from edge.phone.codes import COOKIE
from edge.phone.service import PhoneService
from edge.platform.errors import EdgeError
from edge.platform.paths import ui_dir
from edge.platform.text import CodeStr, SafeStr
from edge.platform.web import CtxDep, Ident, StaffDep

router = APIRouter(tags=["phone scan-and-go"])
MAX_INT = 2**31 - 1
ScanId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{8,64}$", description="The page's id of this scan.")]
_NO_STORE = {"Cache-Control": "no-store"}
LineId = Annotated[int, FPath(ge=1, le=MAX_INT, description="The cart line's id.")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TypedIn(_In):
    code: CodeStr = Field(max_length=128, description="A product code, or a GS1 label's (01)... line, typed.")
    qty: int = Field(default=1, ge=-MAX_INT, le=MAX_INT)
    scan_id: ScanId


class QtyIn(_In):
    qty: int = Field(ge=-MAX_INT, le=MAX_INT, description="New quantity; 0 removes the line.")


class MemberIn(_In):
    code: CodeStr | None = Field(default=None, max_length=2048, description="A signed member code.")
    phone: SafeStr | None = Field(default=None, max_length=20, description="Or the member's phone number.")


class CouponIn(_In):
    code: CodeStr = Field(max_length=2048, description="A coupon code.")


class PayIn(_In):
    method: Literal["alipay", "wechatpay", "sandbox"]
    expected_total_minor: int | None = Field(default=None, ge=0, le=10**9, description="The total the shopper saw.")
    idempotency_key: CodeStr | None = Field(default=None, max_length=80)


async def _svc(ctx: CtxDep) -> PhoneService:
    return ctx.own(PhoneService)


SvcDep = Annotated[PhoneService, Depends(_svc)]


async def _owner(request: Request, svc: SvcDep) -> str:
    return svc.owner(request.cookies.get(COOKIE))


OwnerDep = Annotated[str, Depends(_owner)]


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- the page ---------------------------------------------------------------------------
@router.get("/go/{code}", include_in_schema=False, response_model=None)
def entry_page(code: str, request: Request, svc: SvcDep) -> Response:
    """The store's QR code opens this: the scan-and-go page, bound to this phone by a cookie."""
    try:
        cookie = svc.enter(code, request.cookies.get(COOKIE), _address(request))
    except EdgeError as exc:  # a forged or stale code (403), or too many new carts from this address (429)
        return HTMLResponse(_refusal(svc.store_name, exc), status_code=exc.status, headers=_NO_STORE)
    page = FileResponse(ui_dir() / "phone" / "index.html", media_type="text/html", headers=_NO_STORE)
    if cookie is not None:
        secure = request.url.scheme == "https"
        page.set_cookie(
            COOKIE, cookie, max_age=svc.cfg.cookie_ttl_s, httponly=True, samesite="strict", secure=secure, path="/"
        )
    return page


def _refusal(store: str, exc: EdgeError) -> str:
    """A page a shopper can act on; the sentence is ours, nothing from the request is echoed."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        '<link rel=stylesheet href="/ui/common/base.css"><link rel=stylesheet href="/ui/phone/phone.css">'
        f"<title>{html.escape(store)}</title></head><body class=refusal>"
        f"<main><h1>{html.escape(store)}</h1><p class=problem>{html.escape(exc.message)}</p>"
        "<p>扫描商店入口处的二维码开始自助购物。</p></main></body></html>"
    )


# --- the phone's cart -------------------------------------------------------------------
@router.get("/api/go/state")
def state(owner: OwnerDep, svc: SvcDep) -> dict[str, Any]:
    """The phone's open cart (a new one if none), its last paid order with a pass, and how it may pay."""
    return svc.state(owner)


@router.post("/api/go/carts/{session_id}/frames")
async def frame(
    session_id: Ident,
    request: Request,
    owner: OwnerDep,
    svc: SvcDep,
    x_frame_id: Annotated[str | None, Header(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = None,
    x_frame_time: Annotated[float | None, Header(ge=0, le=1e12)] = None,
) -> dict[str, Any]:
    """One camera frame (JPEG, PNG or WebP bytes): codes it confirms go into the cart."""
    data = await request.body()
    return await run_in_threadpool(svc.frame, owner, session_id, data, x_frame_time, x_frame_id)


@router.post("/api/go/carts/{session_id}/items", status_code=201)
def add_typed(session_id: Ident, body: TypedIn, owner: OwnerDep, svc: SvcDep) -> dict[str, Any]:
    return svc.add_typed(owner, session_id, body.code, body.qty, body.scan_id)


@router.patch("/api/go/carts/{session_id}/lines/{line_id}")
def set_qty(session_id: Ident, line_id: LineId, body: QtyIn, owner: OwnerDep, svc: SvcDep) -> dict[str, Any]:
    return svc.set_qty(owner, session_id, line_id, body.qty)


@router.post("/api/go/carts/{session_id}/member")
def attach_member(session_id: Ident, body: MemberIn, owner: OwnerDep, svc: SvcDep) -> dict[str, Any]:
    return svc.carts().attach_member(session_id, owner, body.code, body.phone)


@router.post("/api/go/carts/{session_id}/coupons")
def apply_coupon(session_id: Ident, body: CouponIn, owner: OwnerDep, svc: SvcDep) -> dict[str, Any]:
    return svc.carts().apply_coupon(session_id, owner, body.code)


@router.post("/api/go/carts/{session_id}/pay", status_code=201)
def pay(session_id: Ident, body: PayIn, owner: OwnerDep, svc: SvcDep) -> dict[str, Any]:
    """Pay in the wallet app (the cart freezes until it is paid or closed); sandbox boxes pay at once."""
    carts, key, expected = svc.carts(), body.idempotency_key, body.expected_total_minor
    if body.method == "sandbox":
        return {"status": "paid", "order": carts.sandbox_pay(session_id, owner, key, expected)}
    return {"status": "waiting", "wallet": carts.wallet_order(session_id, owner, body.method, key, expected)}


@router.post("/api/go/carts/{session_id}/help", status_code=201)
def call_staff(session_id: Ident, owner: OwnerDep, svc: SvcDep) -> dict[str, Any]:
    """The shopper asks for a member of staff (one open request per cart)."""
    return svc.carts().call_staff(session_id, owner)


@router.get("/api/go/carts/{session_id}/payment")
def payment(session_id: Ident, owner: OwnerDep, svc: SvcDep) -> dict[str, Any]:
    """How the wallet payment stands (waiting, paid with the order and its pass, failed)."""
    return svc.carts().wallet_payment(session_id, owner)


@router.get("/api/go/carts/{session_id}/receipts")
def receipts(session_id: Ident, owner: OwnerDep, svc: SvcDep) -> list[dict[str, Any]]:
    """The e-receipts of the member attached to this cart by their member code (this store box)."""
    return svc.carts().receipts(session_id, owner)


@router.get("/api/go/orders/{order_id}/pass.svg", response_class=Response)
def pass_svg(order_id: Ident, owner: OwnerDep, svc: SvcDep) -> Response:
    """The exit pass of this phone's order as a QR code for the gate camera."""
    return _svg(svc.carts().exit_pass(order_id, owner), scale=6)


@router.get("/api/admin/phone/entry")
def entry_code(request: Request, p: StaffDep, svc: SvcDep) -> dict[str, Any]:
    """Today's entry code and its URL, for the screen at the entrance and the trolley labels."""
    code = svc.entry.code()
    base = str(request.base_url).rstrip("/")
    return {"day": svc.entry.today().isoformat(), "code": code, "url": f"{base}/go/{code}"}


def _svg(text: str, scale: int) -> Response:
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="svg", scale=scale, border=4, xmldecl=False)
    return Response(buf.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
