"""The `shopping` contract (checkout.contract.ShopperCarts): a phone's cart is a kiosk cart whose
owner is the phone. Same sessions, pricing, members, coupons, staff alerts, payments and pass;
only who may touch it changes (PHONE_PREFIX + the phone's id instead of a kiosk's device id)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from edge.checkout.contract import PHONE_PREFIX
from edge.checkout.inapp import InAppPay
from edge.checkout.models import KioskSession, Order
from edge.checkout.rails import Rail, is_payment_code
from edge.checkout.service import CheckoutServices
from edge.checkout.tasks import StaffTasks
from edge.platform.codes import COUPON_PREFIX, GUIDE_PREFIX, MEMBER_PREFIX, PASS_PREFIX
from edge.platform.errors import EdgeError, Forbidden, InvalidInput
from edge.platform.gs1facts import Facts
from edge.platform.timeutil import as_utc, utcnow

RECEIPT_DAYS = 90
MAX_RECEIPTS = 20


class PhoneCarts:
    def __init__(self, svc: CheckoutServices, inapp: InAppPay, tasks: StaffTasks) -> None:
        self.svc = svc
        self.inapp = inapp
        self.tasks = tasks

    @staticmethod
    def _owner(owner: str) -> str:
        if not owner.startswith(PHONE_PREFIX) or len(owner) > 64:
            raise Forbidden("this cart belongs to another phone", code="wrong_phone")
        return owner

    def resume(self, owner: str, _again: bool = True) -> dict[str, Any]:
        """The cart the phone is on: one being paid in the wallet first (a reload mid-payment keeps
        it), else the open cart changed last (a failed payment reopens the basket, not an empty
        cart opened meanwhile), else a new one."""
        sessions = self.svc.sessions
        with self.svc.store.read() as s:
            rows = s.exec(
                select(KioskSession)
                .where(KioskSession.kiosk_id == self._owner(owner), col(KioskSession.status).in_(("open", "paying")))
                .order_by(col(KioskSession.updated_at).desc())
            ).all()
        live = [ks for ks in rows if ks.status == "paying" or not sessions.idle(ks)]
        current = next((ks for ks in live if ks.status == "paying"), live[0] if live else None)
        cart = sessions.view(current.id, owner) if current is not None else sessions.open(owner)
        payment = self.inapp.poll(cart.session_id, owner) if cart.status == "paying" else None
        if payment is not None and payment["status"] != "waiting" and _again:
            return self.resume(owner, _again=False)  # settled while we asked: show where it left the phone
        return {"cart": cart.model_dump(), "payment": payment, "last_order": self._last_order(owner)}

    def _last_order(self, owner: str) -> dict[str, Any] | None:
        with self.svc.store.read() as s:
            ks = s.exec(
                select(KioskSession)
                .where(KioskSession.kiosk_id == owner, KioskSession.status == "paid")
                .order_by(col(KioskSession.updated_at).desc())
            ).first()
            if ks is None or not ks.order_id:
                return None
            if (utcnow() - as_utc(ks.updated_at)).total_seconds() > self.svc.checkout.settings.checkout.exit_pass_ttl_s:
                return None
            order = self.svc.checkout.result(s, ks.order_id).model_dump()
        try:
            order["exit_pass"] = self.svc.pass_token(order["order_id"], owner)
        except EdgeError:
            return None  # used, expired or voided: nothing to show at the gate any more
        return order

    def receipts(self, session_id: str, owner: str) -> list[dict[str, Any]]:
        """The e-receipts of the member this phone's cart holds by their signed code: their orders on
        this box in the last RECEIPT_DAYS days, newest first (a typed phone number proves nothing)."""
        since = utcnow() - timedelta(days=RECEIPT_DAYS)
        with self.svc.store.read() as s:
            ks = self.svc.sessions.load_row(s, session_id, self._owner(owner), for_change=False)
            if not ks.member_id or ks.member_via != "code":
                raise Forbidden("scan your member code to see your receipts", code="member_code_required")
            ids = s.exec(
                select(Order.id)
                .where(Order.member_id == ks.member_id, col(Order.created_at) >= since)
                .order_by(col(Order.created_at).desc())
                .limit(MAX_RECEIPTS)
            ).all()
        return [self.svc.aftersale.receipt(order_id) for order_id in ids]

    def cart(self, session_id: str, owner: str) -> dict[str, Any]:
        return self.svc.sessions.view(session_id, self._owner(owner)).model_dump()

    def add_scan(self, session_id: str, owner: str, text: str, facts: Facts | None, scan_id: str) -> dict[str, Any]:
        sessions = self.svc.sessions
        owner = self._owner(owner)
        if text.startswith(MEMBER_PREFIX):
            cart = sessions.attach_member(session_id, owner, text, None)
            return {"added": None, "attached": "member", "alerts": [], "cart": cart.model_dump()}
        if text.startswith(COUPON_PREFIX):
            cart = sessions.apply_coupon(session_id, owner, text)
            return {"added": None, "attached": "coupon", "alerts": [], "cart": cart.model_dump()}
        if text.startswith(GUIDE_PREFIX):
            cart = sessions.attach_guide(session_id, owner, text)
            return {"added": None, "attached": "guide", "alerts": [], "cart": cart.model_dump()}
        if is_payment_code(text):
            raise InvalidInput("this is a wallet payment code; pay on this page instead", code="payment_code_on_phone")
        if text.startswith(PASS_PREFIX):
            raise InvalidInput("this is an exit pass: show it at the exit gate", code="not_a_product")
        if facts is None:
            return self.add_typed(session_id, owner, text, 1, scan_id)
        out: dict[str, Any] = sessions.add_item(session_id, owner, facts, 1, "phone", scan_id=scan_id).model_dump()
        return out

    def add_typed(self, session_id: str, owner: str, code: str, qty: int, scan_id: str) -> dict[str, Any]:
        sessions = self.svc.sessions
        out = sessions.add_code(session_id, self._owner(owner), code, qty, "typed", scan_id=scan_id)
        return dict(out.model_dump())

    def set_qty(self, session_id: str, owner: str, line_id: int, qty: int) -> dict[str, Any]:
        return self.svc.sessions.set_qty(session_id, self._owner(owner), line_id, qty).model_dump()

    def attach_member(self, session_id: str, owner: str, code: str | None, phone: str | None) -> dict[str, Any]:
        return self.svc.sessions.attach_member(session_id, self._owner(owner), code, phone).model_dump()

    def apply_coupon(self, session_id: str, owner: str, code: str) -> dict[str, Any]:
        return self.svc.sessions.apply_coupon(session_id, self._owner(owner), code).model_dump()

    def call_staff(self, session_id: str, owner: str) -> dict[str, Any]:
        cart = self.svc.sessions.view(session_id, self._owner(owner))
        return self.tasks.ask_for_help(cart.kiosk_id, session_id)

    def pay_options(self) -> list[str]:
        providers = self.svc.checkout.providers
        rails = [name for name in ("alipay", "wechatpay") if isinstance(providers.get(name), Rail)]
        sandbox = self.svc.checkout.settings.checkout.mode == "sandbox"
        return rails or (["sandbox"] if sandbox else [])

    def wallet_order(
        self, session_id: str, owner: str, rail: str, key: str | None, expected: int | None
    ) -> dict[str, Any]:
        return self.inapp.start(session_id, self._owner(owner), rail, key, expected)

    def wallet_payment(self, session_id: str, owner: str) -> dict[str, Any]:
        return self.inapp.poll(session_id, self._owner(owner))

    def sandbox_pay(self, session_id: str, owner: str, key: str | None, expected: int | None) -> dict[str, Any]:
        if "sandbox" not in self.pay_options():
            raise Forbidden("pay in your wallet app", code="sandbox_not_allowed")
        out = self.svc.checkout.checkout(
            session_id, self._owner(owner), provider="sandbox", client_key=key,
            actor=f"phone:{owner}", expected_total_minor=expected,
        )  # fmt: skip
        return out.model_dump()

    def exit_pass(self, order_id: str, owner: str) -> str:
        return self.svc.pass_token(order_id, self._owner(owner))
