"""Checkout tables. API schemas live in schemas.py; a table model is never returned by the API.

Money columns are integer minor units next to a currency; timestamps are UTC.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from edge.platform.ids import new_id
from edge.platform.timeutil import utcnow


class Product(SQLModel, table=True):
    """One sellable GTIN. Fashion variants each have their own row and share `style`."""

    __tablename__ = "catalog_product"

    gtin: str = Field(primary_key=True, max_length=14)
    name: str = Field(max_length=200)
    price_minor: int  # per unit, or per kg for weighed items
    currency: str = Field(max_length=3)
    member_price_minor: int | None = Field(default=None)
    tax_class: str = Field(default="standard", max_length=16)
    category: str = Field(default="", max_length=64)
    style: str = Field(default="", max_length=64, index=True)
    size: str = Field(default="", max_length=16)
    colour: str = Field(default="", max_length=32)
    stock: int = Field(default=0)
    weighed: bool = Field(default=False)
    age_restricted: bool = Field(default=False)
    updated_at: datetime = Field(default_factory=utcnow)


class CatalogState(SQLModel, table=True):
    """The catalog version last applied (down-sync); one row, id=1."""

    __tablename__ = "catalog_state"

    id: int = Field(default=1, primary_key=True)
    version: str = Field(default="", max_length=64)
    applied_at: datetime = Field(default_factory=utcnow)
    products: int = Field(default=0)
    promotions: int = Field(default=0)


class Recall(SQLModel, table=True):
    """One entry of the recall list the cloud sends down: a GTIN, narrowed to a lot (AI 10) or to
    packs dated within a range (AI 17, else 15, else 11), or every pack of it."""

    __tablename__ = "checkout_recall"

    id: int | None = Field(default=None, primary_key=True)
    recall_id: str = Field(max_length=64)
    gtin: str = Field(max_length=14, index=True)
    lot: str = Field(default="", max_length=20)  # "" = every lot
    date_from: date | None = Field(default=None)
    date_to: date | None = Field(default=None)
    refuse_unmarked: bool = Field(default=True)  # a pack whose code carries no lot or date: refused
    reason: str = Field(default="", max_length=200)
    since: datetime = Field(default_factory=utcnow)  # first applied here (kept across list versions)


class RecallList(SQLModel, table=True):
    """The recall list version last applied; one row, id=1."""

    __tablename__ = "checkout_recall_list"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0)
    entries: int = Field(default=0)
    applied_at: datetime = Field(default_factory=utcnow)


class Promotion(SQLModel, table=True):
    """A multi-buy or threshold rule; `rule` is the JSON the pricing engine reads."""

    __tablename__ = "checkout_promotion"

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)  # multibuy | threshold
    name: str = Field(default="", max_length=120)
    rule: str = Field(sa_column=Column(Text, nullable=False))
    priority: int = Field(default=100)
    starts_at: datetime | None = Field(default=None)
    ends_at: datetime | None = Field(default=None)
    active: bool = Field(default=True)


class Member(SQLModel, table=True):
    """A loyalty member (member prices, coupon limits)."""

    __tablename__ = "checkout_member"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    phone: str | None = Field(default=None, max_length=20, unique=True, index=True)
    name: str = Field(default="", max_length=80)
    created_at: datetime = Field(default_factory=utcnow)
    # face-pay charges this: the member's signed withholding agreement with one wallet (Alipay
    # agreement_no, WeChat Pay contract id), never card data; "" when there is none
    pay_rail: str = Field(default="", max_length=16)
    pay_agreement: str = Field(default="", max_length=64)
    # a member the chain's cloud owns (edge.checkout.wallets) is "cloud"; one created here "store"
    origin: str = Field(default="store", max_length=8)
    tier: str = Field(default="", max_length=16)
    phone_hash: str | None = Field(default=None, max_length=64, index=True)  # HMAC under the chain's lookup key
    marketing: bool = Field(default=False)
    facepay: str = Field(default="", max_length=8)  # consent from the cloud: none | store | chain
    erased: bool = Field(default=False)  # erased here or at the cloud: never attached again


class WalletCoupon(SQLModel, table=True):
    """A personalised coupon the cloud issued to a member's wallet: single use, chain-wide."""

    __tablename__ = "checkout_wallet_coupon"

    use_key: str = Field(primary_key=True, max_length=120)  # campaign:serial, as reserved at the chain
    member_id: str = Field(max_length=36, index=True)
    claims: str = Field(sa_column=Column(Text, nullable=False))  # the coupon claims (edge.platform.codes)
    nbf: int = Field(default=0)
    exp: int = Field(default=0)


class KioskSession(SQLModel, table=True):
    """A shopper's visit at one kiosk: open -> paid | expired | cancelled."""

    __tablename__ = "kiosk_session"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    kiosk_id: str = Field(max_length=64, index=True)
    status: str = Field(default="open", max_length=16, index=True)
    member_id: str | None = Field(default=None, max_length=36)
    # how the member was attached: "code" (signed member QR: the name may show) or "phone" (no proof:
    # only a masked phone shows); "" for rows older than this column, shown masked too
    member_via: str = Field(default="", max_length=8)
    coupons: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # verified coupon claims
    version: int = Field(default=0)
    order_id: str | None = Field(default=None, max_length=36)
    age_checked_by: str | None = Field(default=None, max_length=80)  # staff who checked ID
    guide_id: str | None = Field(default=None, max_length=64)  # the guide whose code the shopper scanned
    guide_store: str | None = Field(default=None, max_length=64)  # the store that guide works in
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class CartLine(SQLModel, table=True):
    """One scanned code in a cart; scanning the same code again adds a unit."""

    __tablename__ = "cart_line"
    __table_args__ = (UniqueConstraint("session_id", "code", name="uq_cart_line_code"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="kiosk_session.id", max_length=36, index=True)
    # the scanned GTIN-14 (variable-measure codes keep their value; one measured in an AI joins it)
    code: str = Field(max_length=32)
    gtin: str = Field(max_length=14)  # the catalog item
    qty: int = Field(default=1)
    measure_kind: str = Field(default="", max_length=8)  # "", price, weight
    measure_value: int = Field(default=0)
    expires_on: date | None = Field(default=None)  # the pack's use-by date (GS1 AI 17), for its markdown
    added_at: datetime = Field(default_factory=utcnow)


class PaymentIntent(SQLModel, table=True):
    """The payment record. Written before the provider is called, so a crash can be reconciled."""

    __tablename__ = "payment_intent"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)  # idempotency key
    session_id: str = Field(max_length=36, index=True)
    client_key: str = Field(default="", max_length=80, index=True)
    provider: str = Field(max_length=16)
    amount_minor: int
    currency: str = Field(max_length=3)
    status: str = Field(default="created", max_length=16, index=True)
    provider_ref: str = Field(default="", max_length=80)
    error_code: str = Field(default="", max_length=48)
    order_id: str | None = Field(default=None, max_length=36, index=True)
    captured_minor: int = Field(default=0)
    refunded_minor: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Order(SQLModel, table=True):
    """A paid sale; `pricing` keeps the full priced breakdown the receipt explains."""

    __tablename__ = "checkout_order"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    session_id: str = Field(max_length=36, unique=True)
    kiosk_id: str = Field(max_length=64)
    member_id: str | None = Field(default=None, max_length=36)
    status: str = Field(default="paid", max_length=24, index=True)
    currency: str = Field(max_length=3)
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    total_minor: int
    refunded_minor: int = Field(default=0)
    pricing: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class OrderLine(SQLModel, table=True):
    __tablename__ = "checkout_order_line"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="checkout_order.id", max_length=36, index=True)
    line_no: int
    gtin: str = Field(max_length=14)
    name: str = Field(max_length=200)
    qty: int
    gross_minor: int
    discount_minor: int
    net_minor: int
    tax_minor: int
    refunded_qty: int = Field(default=0)
    refunded_minor: int = Field(default=0)


class CouponRedemption(SQLModel, table=True):
    """A coupon use; `use_key` is unique, which is what makes single use atomic."""

    __tablename__ = "coupon_redemption"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    coupon_id: str = Field(max_length=64, index=True)
    use_key: str = Field(max_length=160, unique=True)
    member_id: str | None = Field(default=None, max_length=36)
    order_id: str = Field(max_length=36, index=True)
    amount_minor: int
    created_at: datetime = Field(default_factory=utcnow)


class CartScan(SQLModel, table=True):
    """A scan id a phone sent with an item (edge.phone): a resend after a dropped answer, or a
    queue replayed after the Wi-Fi came back, adds nothing twice. Written with the cart line."""

    __tablename__ = "cart_scan"

    session_id: str = Field(primary_key=True, max_length=36)
    scan_id: str = Field(primary_key=True, max_length=64)


class ExitPass(SQLModel, table=True):
    __tablename__ = "exit_pass"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    order_id: str = Field(max_length=36, index=True)
    expires_at: datetime
    audit_flag: bool = Field(default=False)
    # why the pass was flagged (checkout.audits): "random", "value", "restricted", ... comma-joined
    audit_reasons: str = Field(default="", max_length=200)
    used_at: datetime | None = Field(default=None)
    gate_id: str = Field(default="", max_length=64)
    revoked: bool = Field(default=False)


class ForeignPass(SQLModel, table=True):
    """On the box that serves the store's gates: the single use (or the revocation) of an exit
    pass another box of the store issued. The pass id is the key, so a second use cannot insert."""

    __tablename__ = "checkout_foreign_pass"

    pass_id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(max_length=36)
    box: str = Field(max_length=40)  # the box that issued it (and holds its order)
    used_at: datetime | None = Field(default=None)
    gate_id: str = Field(default="", max_length=64)
    revoked_at: datetime | None = Field(default=None)


class Refund(SQLModel, table=True):
    """Money going back (a refund, or a whole void). Written "pending" BEFORE the provider is called;
    its id is the idempotency key of that reverse() call, so a retry or recovery never pays out twice.
    `lines` is the plan ([{line_no, qty, amount_minor}]), applied to the order when it becomes "done".
    """

    __tablename__ = "checkout_refund"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    order_id: str = Field(max_length=36, index=True)
    kind: str = Field(default="refund", max_length=8)  # refund | void
    status: str = Field(default="pending", max_length=8, index=True)  # pending | done | failed
    amount_minor: int
    lines: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    actor: str = Field(max_length=80)
    reason: str = Field(default="", max_length=200)
    error_code: str = Field(default="", max_length=48)
    created_at: datetime = Field(default_factory=utcnow)
    settled_at: datetime | None = Field(default=None)


class ExitAudit(SQLModel, table=True):
    """The result of a staff rescan at the exit: feeds the member's audit history (checkout.audits)."""

    __tablename__ = "checkout_exit_audit"

    order_id: str = Field(primary_key=True, max_length=36)
    member_id: str | None = Field(default=None, max_length=36, index=True)
    result: str = Field(max_length=12)  # match | mismatch | waved
    missing: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # [{gtin, qty}] not paid
    reason: str = Field(default="", max_length=200)
    actor: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow)


class StaffTask(SQLModel, table=True):
    """Something only a person can do (checkout.tasks): an ID check, a shopper asking for help, a
    basket to rescan at the exit. open -> claimed -> done; escalated when nobody claims it."""

    __tablename__ = "checkout_staff_task"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    kind: str = Field(max_length=16)  # id_check | kiosk_help | exit_audit | pack_pull
    place: str = Field(max_length=64)  # the kiosk, phone (phone-...) or gate it is at
    session_id: str | None = Field(default=None, max_length=36, index=True)
    order_id: str | None = Field(default=None, max_length=36, index=True)
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # items, reasons (JSON)
    state: str = Field(default="open", max_length=12, index=True)  # open | claimed | done
    escalated: int = Field(default=0)
    claimed_by: str = Field(default="", max_length=80)
    outcome: str = Field(default="", max_length=16)
    reason: str = Field(default="", max_length=200)
    version: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)
    claimed_at: datetime | None = Field(default=None)
    done_at: datetime | None = Field(default=None)


class Attribution(SQLModel, table=True):
    """A sold line a guide gets credit for (edge.checkout.attribution), or one tried on in a
    fitting room without a guide (guide_id None: it still counts for the style's conversion)."""

    __tablename__ = "checkout_attribution"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=36, index=True)
    line_no: int
    gtin: str = Field(max_length=14)
    style: str = Field(default="", max_length=64)
    qty: int
    net_minor: int
    guide_id: str | None = Field(default=None, max_length=64, index=True)
    guide_store: str = Field(default="", max_length=64)
    via: str = Field(max_length=8)  # code | fitting
    created_at: datetime = Field(default_factory=utcnow, index=True)
