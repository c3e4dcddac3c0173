"""Checkout configuration (payments, passes, pricing)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.platform.settings import StoreSettings


class AlipaySettings(BaseModel):
    """The Alipay rail (OpenAPI v2, RSA2). Keys come from the secrets dir, never from here:
    `alipay_app_private_key` (the merchant's PEM) and `alipay_public_key` (Alipay's PEM)."""

    model_config = ConfigDict(extra="forbid")

    app_id: str = Field(default="", max_length=32, description="The merchant app id; empty: the Alipay rail is off.")
    gateway_url: str = Field(
        default="https://openapi.alipay.com/gateway.do", description="Alipay's gateway (a simulator in tests)."
    )
    notify_url: str = Field(
        default="", description="Where Alipay posts in-app payment notifications (this box's public URL)."
    )


class WeChatPaySettings(BaseModel):
    """The WeChat Pay rail (API v2: payment code, reverse, refund). Secrets: `wechatpay_api_key`, and for
    reverse and refund the merchant certificate `wechatpay_mch_cert.pem` and key `wechatpay_mch_key.pem`."""

    model_config = ConfigDict(extra="forbid")

    appid: str = Field(default="", max_length=32, description="The app id bound to the merchant; empty: off.")
    mch_id: str = Field(default="", max_length=32, description="The merchant number.")
    api_base_url: str = Field(
        default="https://api.mch.weixin.qq.com/", description="WeChat Pay's API base (a simulator in tests)."
    )
    notify_url: str = Field(default="", description="Where WeChat Pay posts in-app payment notifications.")


class RailSettings(BaseModel):
    """The real payment rails, and how long the box waits on them."""

    model_config = ConfigDict(extra="forbid")

    alipay: AlipaySettings = Field(default_factory=AlipaySettings, description="The Alipay rail.")
    wechatpay: WeChatPaySettings = Field(default_factory=WeChatPaySettings, description="The WeChat Pay rail.")
    timeout_s: float = Field(default=8.0, ge=0.5, le=60, description="One call to a gateway gives up after this.")
    shopper_wait_s: float = Field(
        default=60.0,
        ge=1,
        le=300,
        description="How long a payment waits for the shopper to confirm in the wallet (a password) "
        "before it is cancelled at the gateway.",
    )
    inapp_wait_s: float = Field(
        default=180.0,
        ge=3,
        le=3600,
        description="How long a cart waits for an in-app payment (the shopper pays inside the wallet) before "
        "the order is closed at the gateway and the cart opens again.",
    )
    poll_interval_s: float = Field(
        default=3.0, ge=0.05, le=30, description="How often the gateway is asked while the shopper confirms."
    )


class AuditSettings(BaseModel):
    """Risk points that flag an exit pass for a staff rescan (docs/checkout.md, "Exit audits")."""

    model_config = ConfigDict(extra="forbid")

    risk_threshold: int = Field(default=100, ge=1, le=10_000, description="Points at which a pass is flagged.")
    value_minor: int = Field(
        default=50_000, ge=1, le=10**9, description="A basket of at least this total adds value_points (twice at 2x)."
    )
    value_points: int = Field(default=40, ge=0, le=1000, description="Points for a large basket.")
    restricted_points: int = Field(default=30, ge=0, le=1000, description="Points for an age-restricted line.")
    weighed_points: int = Field(default=10, ge=0, le=1000, description="Points per weighed line (at most three).")
    phone_points: int = Field(default=20, ge=0, le=1000, description="Points for a basket scanned on a phone.")
    scan_gap_s: int = Field(
        default=600, ge=30, le=86_400, description="On a phone, a pause between scans longer than this is a gap."
    )
    scan_gap_points: int = Field(default=25, ge=0, le=1000, description="Points per scan gap (at most two).")
    no_member_points: int = Field(default=20, ge=0, le=1000, description="Points for a phone basket with no member.")
    long_visit_s: int = Field(default=5400, ge=60, le=86_400, description="A visit longer than this adds points.")
    long_visit_points: int = Field(default=20, ge=0, le=1000, description="Points for a long visit.")
    mismatch_points: int = Field(
        default=60, ge=0, le=1000, description="Points per past mismatch of this member (two at most)."
    )
    trust_points: int = Field(
        default=30, ge=0, le=1000, description="Points taken off when the member's last three audits all matched."
    )


class CheckoutSettings(BaseModel):
    """Scan-and-go checkout."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["sandbox", "production"] = Field(
        default="sandbox", description="production refuses the sandbox payment simulator."
    )
    exit_pass_ttl_s: int = Field(default=900, ge=60, le=7200, description="How long an exit pass stays valid.")
    gate_box_url: str = Field(
        default="", pattern=r"^(https?://[^\s]+)?$",
        description="Base URL of the box that serves this store's exit gates, when it is another box (a "
        "large store with several boxes): gate checks and voids are forwarded there, the one place a pass "
        "is used. Empty: this box serves its gates itself.",
    )  # fmt: skip
    gate_box_timeout_s: float = Field(
        default=1.0, gt=0, le=10, description="How long a forwarded gate check waits for the gate box."
    )
    gate_box_ca_file: Path | None = Field(
        default=None, description="PEM bundle to trust for the gate box's TLS certificate (default: system CAs)."
    )
    audit_share: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="Share of exit passes flagged for a random staff audit at the gate (on top of risk).",
    )
    audit: AuditSettings = Field(default_factory=AuditSettings, description="Risk-scored exit audits.")
    attribution_window_h: int = Field(
        default=0, ge=0, le=24 * 30,
        description="A sold item tried on in a fitting room this many hours before gives the guide who served that "
        "visit credit (0: the same store day). A guide's code scanned into the cart credits the whole cart.",
    )  # fmt: skip
    task_escalate_s: int = Field(
        default=60,
        ge=5,
        le=3600,
        description="A staff task (ID check, help, rescan) unclaimed this long escalates.",
    )
    phone_idle_s: int = Field(
        default=7200, ge=300, le=86400, description="A phone scan-and-go cart with no activity this long expires."
    )
    session_idle_s: int = Field(
        default=600, ge=30, le=86400, description="A kiosk session with no activity this long expires."
    )
    max_lines: int = Field(default=200, ge=1, le=2000, description="Most distinct lines one cart may hold.")
    max_quantity: int = Field(default=99, ge=1, le=9999, description="Most units of one line.")
    tax_mode: Literal["inclusive", "exclusive"] = Field(
        default="inclusive",
        description="inclusive: shelf prices contain tax (VAT); exclusive: tax is added at the till.",
    )
    tax_rates_bp: dict[str, int] = Field(
        default_factory=lambda: {"standard": 1300, "reduced": 900, "zero": 0},
        description="Tax rate per tax class in basis points (1300 = 13%).",
    )
    max_weighed_price_minor: int = Field(
        default=100000, ge=1, description="An embedded price above this (or zero) is refused as a bad label."
    )
    max_weighed_grams: int = Field(default=30000, ge=1, description="An embedded weight above this is refused.")
    expiry_markdowns: dict[Annotated[int, Field(ge=0, le=60)], Annotated[int, Field(ge=1, le=90)]] = Field(
        default_factory=lambda: {0: 30},
        description="Percent off a pack whose use-by date (GS1 AI 17) is this many days away or fewer, "
        "e.g. {0 = 30, 2 = 10}: 30% off on the last day, 10% one or two days before. Past its date a "
        "pack is refused, with a staff alert.",
    )
    orphan_hold_after_s: int = Field(
        default=300,
        ge=30,
        le=86400,
        description="A payment hold whose checkout never made an order (a failed commit, an unconfirmed "
        "payment) is reversed by the housekeeping loop once it is this old; at startup, at once.",
    )
    qr_acquirer: Literal["none", "sandbox", "rails"] = Field(
        default="sandbox",
        description="Where payment-code (QR) charges go: 'rails' routes each wallet code by its prefix to "
        "the configured WeChat Pay or Alipay rail ([checkout.rails]); 'sandbox' is the simulator (refused in "
        "production); 'none' refuses QR payment.",
    )
    rails: RailSettings = Field(
        default_factory=lambda: RailSettings(), description="The real payment rails (WeChat Pay, Alipay)."
    )


@dataclass(frozen=True)
class CheckoutConfig:
    """The settings checkout's services read: its own section and who this store is."""

    store: StoreSettings
    checkout: CheckoutSettings
