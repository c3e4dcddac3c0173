"""Thin HTTP routers for in-app pay: a kiosk (or, later, the shopper's phone) places a wallet order
and watches it; the gateways post their signed notifications here (anonymous: the signature is the
credential). See docs/payments.md."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from edge.checkout.inapp import InAppPay
from edge.checkout.schemas import WalletOrderIn, WalletOrderOut, WalletPaymentOut
from edge.platform.errors import InvalidInput
from edge.platform.identity import Principal
from edge.platform.web import CtxDep, Ident, KioskDep, answers

kiosk = APIRouter(prefix="/api/kiosk", tags=["kiosk"])
gateways = APIRouter(prefix="/api/payments", tags=["payment gateways"])
MAX_NOTIFICATION = 64 * 1024  # a real notification is under 2 KB


def _inapp(ctx: CtxDep) -> InAppPay:
    return ctx.own(InAppPay)


def _kiosk_id(p: Principal) -> str | None:
    return p.id if p.kind == "device" else None


@kiosk.post("/sessions/{session_id}/wallet-order", status_code=201)
def wallet_order(session_id: Ident, body: WalletOrderIn, p: KioskDep, ctx: CtxDep) -> WalletOrderOut:
    """Place the cart's order in the shopper's wallet app; the cart is frozen until it is paid or closed."""
    out = _inapp(ctx).start(session_id, _kiosk_id(p), body.rail, body.idempotency_key, body.expected_total_minor)
    return WalletOrderOut(**out)


@kiosk.get("/sessions/{session_id}/wallet-payment")
def wallet_payment(session_id: Ident, p: KioskDep, ctx: CtxDep) -> WalletPaymentOut:
    """How the wallet payment stands; asks the gateway when no notification has come yet."""
    return WalletPaymentOut(**_inapp(ctx).poll(session_id, _kiosk_id(p)))


@gateways.post("/{rail}/notify", responses={**answers("text/plain", "the gateway's acknowledgement")})
async def notify(rail: Literal["alipay", "wechatpay"], request: Request, ctx: CtxDep) -> Response:
    """A gateway's asynchronous payment notification; answered with the acknowledgement it expects."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_NOTIFICATION:
            raise InvalidInput("the notification is too large", code="notification_too_large")
    ack = await run_in_threadpool(_inapp(ctx).notified, rail, body, request.headers.get("content-type", ""))
    return Response(ack.body, media_type=ack.media_type)


ROUTERS = [kiosk, gateways]
