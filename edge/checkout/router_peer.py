"""Thin routers for calls between the boxes of one store (gatepeer.py): the box that serves the
gates answers the others' forwarded gate checks and voids. Anonymous at the HTTP layer: the
store's peer token, bound to the body, is the credential."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from edge.checkout.gatepeer import PEER_HEADER
from edge.checkout.schemas import GateOut
from edge.checkout.service import CheckoutServices
from edge.platform.errors import InvalidInput
from edge.platform.web import CtxDep

peer = APIRouter(prefix="/api/peer", tags=["between the boxes of a store"])
MAX_BODY = 8 * 1024  # a gate check is a pass text (≤ 2 KB) and a gate id


async def _body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise InvalidInput("the body is too large", code="body_too_large")
    return body


@peer.post("/gate/verify")
async def peer_gate_verify(request: Request, ctx: CtxDep) -> GateOut:
    """A gate check another box of this store forwards: this box holds every pass's single use."""
    body = await _body(request)
    gate = ctx.own(CheckoutServices).gate
    return await run_in_threadpool(gate.peer_verify, request.headers.get(PEER_HEADER, ""), body)


@peer.post("/passes/revoke")
async def peer_revoke(request: Request, ctx: CtxDep) -> dict[str, Any]:
    """Another box is voiding an order: its pass must no longer open a gate."""
    body = await _body(request)
    gate = ctx.own(CheckoutServices).gate
    return await run_in_threadpool(gate.peer_revoke, request.headers.get(PEER_HEADER, ""), body)


ROUTERS = [peer]
