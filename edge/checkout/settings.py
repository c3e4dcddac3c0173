"""Checkout configuration (payments, passes, pricing)."""

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.platform.settings import StoreSettings


class CheckoutSettings(BaseModel):
    """Scan-and-go checkout."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["sandbox", "production"] = Field(
        default="sandbox", description="production refuses the sandbox payment simulator."
    )
    exit_pass_ttl_s: int = Field(default=900, ge=60, le=7200, description="How long an exit pass stays valid.")
    audit_share: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="Share of exit passes flagged for a random staff audit at the gate.",
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
    qr_acquirer: Literal["none", "sandbox"] = Field(
        default="sandbox",
        description="Where payment-code (QR) charges go; only the sandbox simulator exists on this box. "
        "'none' refuses QR payment.",
    )


@dataclass(frozen=True)
class CheckoutConfig:
    """The settings checkout's services read: its own section and who this store is."""

    store: StoreSettings
    checkout: CheckoutSettings
