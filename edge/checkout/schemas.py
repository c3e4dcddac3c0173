"""API request and response bodies. Requests never carry a price: unknown fields are ignored."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.platform.text import CodeStr, SafeStr
from edge.platform.timeutil import as_utc, utcnow

MAX_INT = 2**31 - 1  # ids, quantities and amounts fit; anything bigger is a typed 422, not a 500
DEVICE_ID = r"^[A-Za-z0-9_.@-]{1,64}$"  # as `retail-edge devices add` accepts them


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a client-sent price is dropped, never read


class OpenSessionIn(_In):
    kiosk_id: str | None = Field(default=None, pattern=DEVICE_ID, description="Only for staff acting for a kiosk.")
    resume: bool = Field(
        default=False,
        description="Return the kiosk's open session (items a camera scanned before the page opened) "
        "instead of starting over; a new one is opened when there is none.",
    )


class AddItemIn(_In):
    code: CodeStr = Field(
        max_length=128, description="GTIN-8/12/13/14, a variable-measure code, or a GS1 label's printed (01)... line."
    )
    qty: int = Field(default=1, ge=-MAX_INT, le=MAX_INT, description="Units to add (1..checkout.max_quantity).")


class SetQtyIn(_In):
    qty: int = Field(ge=-MAX_INT, le=MAX_INT, description="New quantity; 0 removes the line.")


class MemberIn(_In):
    code: CodeStr | None = Field(default=None, max_length=2048, description="Scanned member QR text.")
    phone: SafeStr | None = Field(default=None, max_length=20, description="Or the member's phone number.")


class CouponIn(_In):
    code: CodeStr = Field(max_length=2048, description="Scanned coupon QR text.")


class SimulationIn(_In):
    outcome: Literal["approve", "decline", "timeout", "fail", "slow"] = "approve"
    delay_ms: int = Field(default=0, ge=0, le=30000)


class CheckoutIn(_In):
    provider: Literal["sandbox", "qr", "face"]
    payment_code: CodeStr | None = Field(default=None, max_length=32, description="qr: the 18-digit wallet code.")
    face_auth_id: CodeStr | None = Field(default=None, max_length=64, description="face: from /face-verify.")
    idempotency_key: CodeStr | None = Field(
        default=None, max_length=80, description="The kiosk's own reference, kept with the payment for tracing."
    )
    simulate: SimulationIn | None = Field(default=None, description="Sandbox network only.")
    expected_total_minor: int | None = Field(
        default=None,
        ge=0,
        le=10**9,
        description="The total the shopper saw; a cart that changed since (a late scan) is refused, not charged.",
    )


class FaceVerifyIn(_In):
    member_hint: CodeStr | None = Field(default=None, max_length=2100)  # phone:<digits> or a signed member code


class CartView(BaseModel):
    session_id: str
    kiosk_id: str
    status: str
    version: int
    member: dict[str, Any] | None
    guide: dict[str, Any] | None = None  # the guide whose code the shopper scanned: {guide_id}
    age_check: Literal["not_needed", "required", "done"]
    coupons: list[dict[str, Any]]
    wallet: list[dict[str, Any]] = []  # the attached member's wallet coupons, each with `applied`
    lines: list[dict[str, Any]]
    order_discounts: list[dict[str, Any]]
    coupons_not_applied: list[dict[str, Any]]
    currency: str
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    total_minor: int
    tax_mode: str
    order_id: str | None
    expires_at: str | None


class ItemAdded(BaseModel):
    added: dict[str, Any]
    alerts: list[dict[str, str]]
    cart: CartView


class CheckoutOut(BaseModel):
    order_id: str
    status: str
    currency: str
    total_minor: int
    payment: dict[str, Any]
    exit_pass: str
    exit_pass_expires_at: str
    pass_svg_url: str
    receipt_url: str
    receipt_html_url: str
    replayed: bool = False


class GateIn(_In):
    text: CodeStr = Field(max_length=4096, description="The scanned exit-pass QR text.")
    gate_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",  # it becomes an MQTT topic level: no `+`, `#` or `/`
        description="Only for staff acting for a gate.",
    )


class GateOut(BaseModel):
    open: bool
    order_id: str
    audit: bool


class RefundLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_no: int = Field(ge=1, le=MAX_INT)
    qty: int = Field(ge=1, le=MAX_INT, description="Units of that line; a line listed twice counts once, summed.")


class RefundIn(_In):
    lines: list[RefundLineIn] | None = Field(
        default=None, max_length=500, description='[{"line_no": 1, "qty": 1}]; omit to refund everything left.'
    )
    reason: SafeStr = Field(default="", max_length=200)


class VoidIn(_In):
    reason: SafeStr = Field(default="", max_length=200)


class PayAgreementIn(_In):
    rail: Literal["", "alipay", "wechatpay"] = Field(description="The wallet; empty removes the agreement.")
    agreement: CodeStr = Field(
        default="",
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="The agreement id the wallet gave (Alipay agreement_no, WeChat Pay contract_id); never card data.",
    )


class MemberCreateIn(_In):
    phone: SafeStr = Field(max_length=20)
    name: SafeStr = Field(default="", max_length=80)
    pay: PayAgreementIn | None = Field(default=None, description="The member's face-pay wallet agreement, if any.")


class CouponIssueIn(_In):
    kind: Literal["percent", "fixed"]
    value: int = Field(ge=1, le=MAX_INT, description="percent 1..90, or minor units off")
    name: SafeStr = Field(default="", max_length=80)
    min_spend_minor: int = Field(default=0, ge=0, le=MAX_INT)
    valid_from: datetime | None = Field(default=None, description="ISO time (UTC without an offset); default now")
    valid_to: datetime = Field(description="ISO time (UTC without an offset), within ten years of today")
    per_member_limit: int = Field(
        default=0, ge=0, le=100, description="0: single use (any shopper); N: up to N uses per member."
    )
    count: int = Field(default=1, ge=1, le=1000, description="How many codes to issue.")
    offline_policy: Literal["store", "refuse"] = Field(
        default="store",
        description="A single-use coupon when the chain's cloud cannot be reached at checkout: store (redeem once "
        "on this box, reported to the cloud later) or refuse (wait for the cloud).",
    )

    @field_validator("valid_from", "valid_to")
    @classmethod
    def _within_ten_years(cls, value: datetime | None) -> datetime | None:
        """A date any system this coupon reaches can hold (year 10000 in UTC was a 500)."""
        if value is None:
            return None
        try:
            value = as_utc(value)
            far = abs(value - utcnow()) > timedelta(days=3653)
        except OverflowError:  # e.g. 9999-12-31 at -12:00 is year 10000 in UTC
            far = True
        if far:
            raise ValueError("a coupon's dates must lie within ten years of today")
        return value


class WalletOrderIn(_In):
    rail: Literal["alipay", "wechatpay"] = Field(description="The wallet the shopper pays in.")
    expected_total_minor: int | None = Field(default=None, ge=0, le=10**9, description="The total the shopper saw.")
    idempotency_key: CodeStr | None = Field(default=None, max_length=80, description="The page's own reference.")


class WalletOrderOut(BaseModel):
    payment_id: str
    rail: str
    qr_code: str = Field(description="What the wallet opens: show it as a QR code, or open it on the phone.")
    amount_minor: int
    currency: str
    expires_in_s: int


class WalletPaymentOut(BaseModel):
    status: Literal["waiting", "paid", "failed"]
    payment_id: str | None = None
    qr_code: str | None = Field(default=None, description="While waiting: what the wallet opens, when known.")
    error: str | None = None
    order: dict[str, Any] | None = None


class MissingItemIn(BaseModel):
    gtin: str = Field(pattern=r"^[0-9]{8,14}$", description="The item found in the basket but not in the order.")
    qty: int = Field(default=1, ge=1, le=999)


class ExitAuditIn(_In):
    result: Literal["match", "mismatch", "waved"] = Field(
        description="match: the basket is the order; mismatch: items were not paid for; waved: not checked."
    )
    missing: list[MissingItemIn] = Field(default_factory=list, max_length=200)
    reason: SafeStr = Field(default="", max_length=200, description="Required when waved through.")
