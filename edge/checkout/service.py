"""The checkout services wired together, plus what joins them: camera scans and face-pay."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlmodel import select

from edge.checkout.aftersale import AfterSale, order_for
from edge.checkout.catalog import Catalog
from edge.checkout.models import ExitPass
from edge.checkout.orders import Checkout
from edge.checkout.passes import Gate
from edge.checkout.providers import is_payment_code
from edge.checkout.sessions import Sessions
from edge.checkout.tokens import COUPON_PREFIX, MEMBER_PREFIX, Tokens
from edge.platform.context import Context
from edge.platform.errors import Conflict, EdgeError, Forbidden, NotFound, Unavailable
from edge.platform.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

PAYMENT_CODE_TTL_S = 60.0  # wallet codes are one-time and refresh every minute anyway
_HELD: dict[str, tuple[str, float]] = {}
_HELD_LOCK = threading.Lock()


@dataclass
class CheckoutServices:
    ctx: Context
    catalog: Catalog
    tokens: Tokens
    sessions: Sessions
    checkout: Checkout
    gate: Gate
    aftersale: AfterSale

    def face_verify(self, session_id: str, kiosk_id: str | None, member_hint: str | None) -> dict[str, Any]:
        """Start face verification for the current cart total; the result carries the auth id to pay with.

        A member attached by their signed QR code is the claimed identity: 1:1 against them (a
        fresh signed code is handed to face-pay). Otherwise the kiosk's hint (`phone:<digits>` or
        a signed member code) narrows or claims; a bare member id is refused by face-pay.
        """
        facepay = self.ctx.optional("facepay")
        if facepay is None:
            raise Unavailable("face-pay is not available on this box", code="facepay_unavailable")
        cart = self.sessions.view(session_id, kiosk_id)
        if cart.status != "open":
            raise Conflict(f"this session is {cart.status}", code="session_closed")
        member = cart.member or {}
        if member.get("via") == "code" and member.get("id"):
            if (
                member_hint
                and member_hint.startswith(MEMBER_PREFIX)
                and self.tokens.member_id(member_hint) != member["id"]
            ):
                raise Forbidden("this member code is not the member attached to the cart", code="face_member_mismatch")
            member_hint = self.tokens.member_code(str(member["id"]))
        result = dict(
            facepay.verify_for_payment(
                kiosk_id=cart.kiosk_id,
                order_ref=session_id,
                amount_minor=cart.total_minor,
                currency=cart.currency,
                member_hint=member_hint,
            )
        )
        auth = result.pop("authorization", None)
        result["authorization"] = (
            None
            if auth is None
            else {
                "auth_id": auth.auth_id,
                "member_id": auth.member_id,
                "amount_minor": auth.amount_minor,
                "currency": auth.currency,
                "expires_at": as_utc(auth.expires_at).isoformat(),
            }
        )
        return result

    def hold_payment_code(self, session_id: str, code: str) -> None:
        """A wallet code read by the kiosk camera, kept in memory only and only for a minute."""
        with _HELD_LOCK:
            now = time.monotonic()
            for sid in [k for k, (_, t) in _HELD.items() if t < now]:
                del _HELD[sid]
            _HELD[session_id] = (code, now + PAYMENT_CODE_TTL_S)

    def take_payment_code(self, session_id: str) -> str | None:
        """The held wallet code for this session, used once."""
        with _HELD_LOCK:
            code, until = _HELD.pop(session_id, (None, 0.0))
        return code if code and until >= time.monotonic() else None

    def pass_token(self, order_id: str, kiosk_id: str | None = None) -> str:
        with self.ctx.store.read() as s:
            order = order_for(s, order_id, kiosk_id)
            xp = s.exec(select(ExitPass).where(ExitPass.order_id == order_id)).first()
            if xp is None:
                raise NotFound("no such order", code="unknown_order")
            if xp.used_at or xp.revoked or order.status == "voided":
                raise Conflict("this exit pass is no longer valid", code="pass_not_valid")
            ttl = int((as_utc(xp.expires_at) - utcnow()).total_seconds())
            if ttl <= 0:
                raise Conflict("this exit pass has expired", code="pass_expired")
        return self.tokens.pass_code(order_id, xp.id, ttl)

    # --- camera scans (ScanEvent from the scanning domain), run off the loop ------------------
    def on_kiosk_scan(self, kiosk_id: str, text: str, gtin: str | None) -> None:
        """A confirmed code at a kiosk camera: item, member card, coupon or wallet payment code."""
        session_id: str | None = None
        try:
            session_id = self.sessions.current_for_kiosk(kiosk_id)
            assert session_id is not None
            if text.startswith(MEMBER_PREFIX):
                self.sessions.attach_member(session_id, kiosk_id, text, None)
            elif text.startswith(COUPON_PREFIX):
                self.sessions.apply_coupon(session_id, kiosk_id, text)
            elif is_payment_code(text):
                self.hold_payment_code(session_id, text)
                self.sessions.alert(kiosk_id, session_id, "payment_code_scanned", "payment code read; confirm to pay")
            else:
                self.sessions.add_code(session_id, kiosk_id, gtin or text, 1, source="camera")
        except EdgeError as exc:
            self.sessions.alert(kiosk_id, session_id, exc.code, exc.message)

    def on_gate_scan(self, gate_id: str, text: str) -> None:
        try:
            self.gate.verify(gate_id, text)
        except EdgeError as exc:
            log.info("gate %s refused a pass: %s", gate_id, exc.code)
