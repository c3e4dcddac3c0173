"""What the pricing engine takes and gives: items and coupons in, a priced cart out, with every
adjustment's code (edge/checkout/pricing.py prices; this module is its vocabulary and its one
rounding rule, which refunds and the cart view use too)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


def round_half_up(numerator: int, denominator: int) -> int:
    """The one rounding rule: nearest integer, halves away from zero (inputs are non-negative)."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("round_half_up takes a non-negative numerator and a positive denominator")
    return (2 * numerator + denominator) // (2 * denominator)


def allocate(amount: int, weights: list[int]) -> list[int]:
    """Split `amount` over `weights` proportionally; shares sum exactly and never exceed a weight."""
    total = sum(weights)
    if amount <= 0 or total <= 0:
        return [0] * len(weights)
    amount = min(amount, total)
    shares = [amount * w // total for w in weights]
    rest = amount - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for i in order[:rest]:
        shares[i] += 1
    return shares


@dataclass(frozen=True)
class PriceItem:
    """One cart line as the engine sees it; `unit_minor` is already the label amount for weighed items."""

    line_id: int
    gtin: str
    name: str
    qty: int
    unit_minor: int
    member_unit_minor: int | None = None
    category: str = ""
    tax_class: str = "standard"
    weighed: bool = False
    markdown_percent: int = 0  # a pack near its use-by date: off its price, before any other rule
    markdown_reason: str = ""
    markdown_code: str = ""  # markdown.last_day | markdown.tomorrow | markdown.days_left
    markdown_params: tuple[tuple[str, int | str], ...] = ()  # (percent, date, days) as pairs: the item stays hashable


@dataclass(frozen=True)
class CouponSpec:
    """A verified coupon (the signature and window were checked before pricing)."""

    coupon_id: str
    kind: Literal["percent", "fixed"]
    value: int  # percent (1-90) or minor units
    min_spend_minor: int = 0
    name: str = ""


# What each adjustment `code` means, with its params (the pages' catalogs hold `adj.<code>` for
# every one: tests/unit/test_pricing_codes.py). Money params end in `_minor`.
ADJUSTMENT_CODES: dict[str, tuple[str, ...]] = {
    "member_price": ("member_minor", "shelf_minor"),
    "markdown.last_day": ("percent", "date"),
    "markdown.tomorrow": ("percent", "date"),
    "markdown.days_left": ("percent", "date", "days"),
    "promo.multibuy": ("buy", "price_minor"),  # N for X
    "promo.free": ("buy", "free"),  # buy N get M free
    "promo.threshold": ("off_minor", "spend_minor"),
    "promo.threshold_excluding": ("off_minor", "spend_minor", "categories"),
    "coupon.percent": ("percent", "base_minor"),
    "coupon.fixed": ("amount_minor",),
    "coupon.fixed_capped": ("amount_minor", "applied_minor"),
}
# Why a coupon in the cart was not applied (`coupons_not_applied[].code`, with `params`).
NOT_APPLIED_CODES: dict[str, tuple[str, ...]] = {"min_spend_not_met": ("min_spend_minor", "cart_minor")}


@dataclass
class Adjustment:
    kind: str  # member_price | markdown | multibuy | threshold | coupon
    rule_id: str
    name: str
    amount_minor: int
    reason: str
    code: str = ""  # one of ADJUSTMENT_CODES: the reason as a code the page renders itself
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rule_id": self.rule_id,
            "name": self.name,
            "amount_minor": self.amount_minor,
            "reason": self.reason,
            "code": self.code,
            "params": dict(self.params),
        }


@dataclass
class PricedLine:
    line_id: int
    gtin: str
    name: str
    qty: int
    unit_minor: int
    gross_minor: int
    tax_class: str
    tax_rate_bp: int
    adjustments: list[Adjustment] = field(default_factory=list)
    discount_minor: int = 0
    net_minor: int = 0
    tax_minor: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "gtin": self.gtin,
            "name": self.name,
            "qty": self.qty,
            "unit_minor": self.unit_minor,
            "gross_minor": self.gross_minor,
            "discount_minor": self.discount_minor,
            "net_minor": self.net_minor,
            "tax_class": self.tax_class,
            "tax_rate_bp": self.tax_rate_bp,
            "tax_minor": self.tax_minor,
            "adjustments": [a.as_dict() for a in self.adjustments],
        }


@dataclass
class PricedCart:
    currency: str
    lines: list[PricedLine]
    order_discounts: list[Adjustment]
    coupons_not_applied: list[dict[str, Any]]
    subtotal_minor: int  # sum of gross
    discount_minor: int
    tax_minor: int
    total_minor: int
    tax_mode: str

    def coupon_amounts(self) -> dict[str, int]:
        return {a.rule_id: a.amount_minor for a in self.order_discounts if a.kind == "coupon"}

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "lines": [line.as_dict() for line in self.lines],
            "order_discounts": [a.as_dict() for a in self.order_discounts],
            "coupons_not_applied": self.coupons_not_applied,
            "subtotal_minor": self.subtotal_minor,
            "discount_minor": self.discount_minor,
            "tax_minor": self.tax_minor,
            "total_minor": self.total_minor,
            "tax_mode": self.tax_mode,
        }


def money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"
