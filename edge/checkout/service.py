"""The checkout services wired together, plus what joins them: camera scans and face-pay."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter
from sqlmodel import select

from edge.checkout.aftersale import AfterSale, order_for
from edge.checkout.catalog import Catalog
from edge.checkout.models import ExitPass
from edge.checkout.orders import Checkout
from edge.checkout.passes import Gate
from edge.checkout.providers import is_payment_code
from edge.checkout.sessions import Sessions
from edge.platform.codes import COUPON_PREFIX, GUIDE_PREFIX, MEMBER_PREFIX, Codes
from edge.platform.context import Registry, need
from edge.platform.errors import Conflict, EdgeError, Forbidden, NotFound
from edge.platform.gs1facts import Facts
from edge.platform.loopwrite import LoopFirst
from edge.platform.store import Store
from edge.platform.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

PAYMENT_CODE_TTL_S = 60.0  # wallet codes are one-time and refresh every minute anyway
CART_WRITES = Counter(
    "edge_checkout_cart_writes_total", "Kiosk cart changes by where they ran (the event loop, or a thread)", ["where"]
)


def _count_cart_write(where: str) -> None:
    CART_WRITES.labels(where).inc()


@dataclass
class CheckoutServices:
    store: Store
    services: Registry  # face-pay, looked up at payment time: start order between domains does not matter
    catalog: Catalog
    codes: Codes
    sessions: Sessions
    checkout: Checkout
    gate: Gate
    aftersale: AfterSale
    cart_writes: LoopFirst = field(default_factory=lambda: LoopFirst(_count_cart_write))
    _held: dict[str, tuple[str, float]] = field(default_factory=dict)  # session -> wallet code, in memory only
    _held_lock: threading.Lock = field(default_factory=threading.Lock)

    def face_verify(self, session_id: str, kiosk_id: str | None, member_hint: str | None) -> dict[str, Any]:
        """Start face verification for the current cart total; the result carries the auth id to pay with.

        A member attached by their signed QR code is the claimed identity: face-pay asks the cart
        for them (the `carts` contract) and matches 1:1. Otherwise the kiosk's hint
        (`phone:<digits>` or a signed member code) narrows or claims; a bare member id is refused
        by face-pay.
        """
        facepay = need(self.services.facepay, "face-pay")
        cart = self.sessions.view(session_id, kiosk_id)
        if cart.status != "open":
            raise Conflict(f"this session is {cart.status}", code="session_closed")
        member = cart.member or {}
        if member.get("via") == "code" and member.get("id"):
            if (
                member_hint
                and member_hint.startswith(MEMBER_PREFIX)
                and self.codes.member_id(member_hint) != member["id"]
            ):
                raise Forbidden("this member code is not the member attached to the cart", code="face_member_mismatch")
            member_hint = None  # the attached member is the claim
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
        with self._held_lock:
            now = time.monotonic()
            for sid in [k for k, (_, t) in self._held.items() if t < now]:
                del self._held[sid]
            self._held[session_id] = (code, now + PAYMENT_CODE_TTL_S)

    def take_payment_code(self, session_id: str) -> str | None:
        """The held wallet code for this session, used once."""
        with self._held_lock:
            code, until = self._held.pop(session_id, (None, 0.0))
        return code if code and until >= time.monotonic() else None

    def pass_token(self, order_id: str, kiosk_id: str | None = None) -> str:
        with self.store.read() as s:
            order = order_for(s, order_id, kiosk_id)
            xp = s.exec(select(ExitPass).where(ExitPass.order_id == order_id)).first()
            if xp is None:
                raise NotFound("no such order", code="unknown_order")
            if xp.used_at or xp.revoked or order.status == "voided":
                raise Conflict("this exit pass is no longer valid", code="pass_not_valid")
            if as_utc(xp.expires_at) <= utcnow():
                raise Conflict("this exit pass has expired", code="pass_expired")
        return self.codes.pass_code(order_id, xp.id, xp.expires_at, xp.audit_reasons if xp.audit_flag else "")

    # --- camera scans (ScanEvent from the scanning domain), run off the loop ------------------
    def on_kiosk_scan(self, kiosk_id: str, text: str, facts: Facts | None) -> None:
        """A confirmed code at a kiosk camera: item (with the GTIN facts scanning parsed), member
        card, coupon, guide's code or wallet payment code."""
        session_id: str | None = None
        try:
            session_id = self.sessions.current_for_kiosk(kiosk_id)
            assert session_id is not None
            if text.startswith(MEMBER_PREFIX):
                self.sessions.attach_member(session_id, kiosk_id, text, None)
            elif text.startswith(COUPON_PREFIX):
                self.sessions.apply_coupon(session_id, kiosk_id, text)
            elif text.startswith(GUIDE_PREFIX):
                self.sessions.attach_guide(session_id, kiosk_id, text)
            elif is_payment_code(text):
                self.hold_payment_code(session_id, text)
                self.sessions.alert(kiosk_id, session_id, "payment_code_scanned", "payment code read; confirm to pay")
            elif facts is not None:
                self.sessions.add_item(session_id, kiosk_id, facts, 1, source="camera")
            else:
                self.sessions.add_code(session_id, kiosk_id, text, 1, source="camera")
        except EdgeError as exc:
            self.sessions.alert(kiosk_id, session_id, exc.code, exc.message)

    def on_gate_scan(self, gate_id: str, text: str) -> None:
        try:
            self.gate.verify(gate_id, text)
        except EdgeError as exc:
            log.info("gate %s refused a pass: %s", gate_id, exc.code)
