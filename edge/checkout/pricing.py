"""The pricing engine: pure functions from cart lines, rules and coupons to a priced cart.

Stacking, in this order (docs/checkout.md explains each with examples):

1. Unit price; a member's price replaces it when a member is attached and it is lower. A pack
   near its use-by date gets its markdown instead when that saves more; either way the saving
   is the unit's own, which a multi-buy must beat to take the unit (as for the member price).
2. Multi-buys in priority order. A unit joins at most one multi-buy group; grouped units are
   priced from the shelf price, not the member price, and a group is only formed when it saves
   more than the member price would on the same units (the shopper gets the better of the two).
3. One threshold discount: the best tier met by the eligible subtotal after step 2.
4. Coupons: percentage coupons, then fixed ones, each on the running total after the steps
   before it; a coupon whose minimum spend is not met is listed as not applied.
5. Order-level discounts (3 and 4) are shared out over the lines in proportion to their net
   amount (largest remainder), so refunds and tax per line are exact.
6. Tax per line on the final net amount.

Rounding is defined once: `round_half_up`, used for weighed amounts, percentage coupons and
tax; shares of a discount use largest-remainder allocation, which always sums exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from edge.checkout.promotions import MultiBuy, Threshold


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


@dataclass(frozen=True)
class CouponSpec:
    """A verified coupon (the signature and window were checked before pricing)."""

    coupon_id: str
    kind: Literal["percent", "fixed"]
    value: int  # percent (1-90) or minor units
    min_spend_minor: int = 0
    name: str = ""


@dataclass
class Adjustment:
    kind: str  # member_price | multibuy | threshold | coupon
    rule_id: str
    name: str
    amount_minor: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rule_id": self.rule_id,
            "name": self.name,
            "amount_minor": self.amount_minor,
            "reason": self.reason,
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


@dataclass
class _Unit:
    line: int  # index into items
    base: int
    member_off: int  # the unit's own saving: its member price, or its markdown (off_kind)
    promo: str | None = None
    promo_off: int = 0
    off_kind: str = "member_price"


def _add(line: PricedLine, adj: Adjustment) -> None:
    for existing in line.adjustments:
        if existing.kind == adj.kind and existing.rule_id == adj.rule_id:
            existing.amount_minor += adj.amount_minor
            return
    line.adjustments.append(adj)


def _multibuys(items: list[PriceItem], units: list[_Unit], rules: list[MultiBuy]) -> None:
    for rule in rules:
        eligible = [
            u
            for u in units
            if u.promo is None
            and not items[u.line].weighed
            and rule.matches(items[u.line].gtin, items[u.line].category)
        ]
        eligible.sort(key=lambda u: (-u.base, u.line))
        size = rule.buy if rule.price_minor is not None else rule.buy + rule.free
        for start in range(0, len(eligible) - size + 1, size):
            group = eligible[start : start + size]
            if rule.price_minor is not None:
                saving = sum(u.base for u in group) - rule.price_minor
                shares = allocate(saving, [u.base for u in group]) if saving > 0 else [0] * size
            else:
                free = group[-rule.free :]
                saving = sum(u.base for u in free)
                shares = [0] * rule.buy + [u.base for u in free]
            if saving <= sum(u.member_off for u in group):
                continue  # the member price saves at least as much: keep it
            for unit, share in zip(group, shares, strict=True):
                unit.promo, unit.promo_off, unit.member_off = rule.id, share, 0


def _multibuy_reason(rule: MultiBuy) -> str:
    if rule.price_minor is not None:
        return f"{rule.buy} for {money(rule.price_minor)}"
    return f"buy {rule.buy} get {rule.free} free (cheapest free)"


def price_cart(
    items: list[PriceItem],
    *,
    currency: str,
    member: bool,
    multibuys: list[MultiBuy],
    thresholds: list[Threshold],
    coupons: list[CouponSpec],
    tax_rates_bp: dict[str, int],
    tax_mode: str = "inclusive",
) -> PricedCart:
    """Price a cart; deterministic for the same inputs (rules are given in priority order)."""
    units: list[_Unit] = []
    for idx, item in enumerate(items):
        off = 0
        member_unit = item.member_unit_minor if member else None
        if member_unit is not None and member_unit < item.unit_minor:
            off = item.unit_minor - member_unit
        markdown = round_half_up(item.unit_minor * item.markdown_percent, 100)
        kind = "markdown" if markdown > off else "member_price"
        units.extend(_Unit(idx, item.unit_minor, max(off, markdown), off_kind=kind) for _ in range(item.qty))
    _multibuys(items, units, multibuys)

    lines = [
        PricedLine(
            line_id=it.line_id,
            gtin=it.gtin,
            name=it.name,
            qty=it.qty,
            unit_minor=it.unit_minor,
            gross_minor=it.unit_minor * it.qty,
            tax_class=it.tax_class,
            tax_rate_bp=tax_rates_bp.get(it.tax_class, 0),
        )
        for it in items
    ]
    rules = {r.id: r for r in multibuys}
    for u in units:
        line, item = lines[u.line], items[u.line]
        if u.member_off and u.off_kind == "markdown":
            _add(line, Adjustment("markdown", "expiry", "Short date", u.member_off, item.markdown_reason))
        elif u.member_off:
            _add(
                line,
                Adjustment(
                    "member_price",
                    "member",
                    "Member price",
                    u.member_off,
                    f"member price {money(item.member_unit_minor or 0)} instead of {money(item.unit_minor)}",
                ),
            )
        if u.promo and u.promo_off:
            rule = rules[u.promo]
            _add(line, Adjustment("multibuy", rule.id, rule.name, u.promo_off, _multibuy_reason(rule)))
    for line in lines:
        line.discount_minor = sum(a.amount_minor for a in line.adjustments)
        line.net_minor = line.gross_minor - line.discount_minor

    order_discounts: list[Adjustment] = []
    # 3. one threshold discount, the best tier met
    best: tuple[int, Threshold, int] | None = None
    for th in thresholds:
        eligible = [i for i, it in enumerate(items) if it.category not in th.exclude_categories]
        spend = sum(lines[i].net_minor for i in eligible)
        met = [t for t in th.tiers if spend >= t[0]]
        if met:
            off = min(met[-1][1], spend)
            if best is None or off > best[0]:
                best = (off, th, met[-1][0])
    if best is not None:
        off, th, tier_spend = best
        eligible = [i for i, it in enumerate(items) if it.category not in th.exclude_categories]
        reason = f"{money(off)} off for spending at least {money(tier_spend)}"
        if th.exclude_categories:
            reason += f" (not counting {', '.join(sorted(th.exclude_categories))})"
        _apply_order_discount(lines, eligible, Adjustment("threshold", th.id, th.name, off, reason), order_discounts)

    # 4. coupons: percentage first, then fixed, each on the running total
    not_applied: list[dict[str, Any]] = []
    ordered = sorted(coupons, key=lambda c: (0 if c.kind == "percent" else 1, c.coupon_id))
    for c in ordered:
        running = sum(line.net_minor for line in lines)
        if running < c.min_spend_minor or running == 0:
            not_applied.append(
                {
                    "coupon_id": c.coupon_id,
                    "code": "min_spend_not_met",
                    "reason": f"needs a spend of {money(c.min_spend_minor)}; the cart is {money(running)}",
                }
            )
            continue
        if c.kind == "percent":
            amount = round_half_up(running * c.value, 100)
            reason = f"{c.value}% off {money(running)}"
        else:
            amount = min(c.value, running)
            reason = f"{money(c.value)} off" + (" (capped at the cart total)" if amount < c.value else "")
        adj = Adjustment("coupon", c.coupon_id, c.name or "Coupon", amount, reason)
        _apply_order_discount(lines, list(range(len(lines))), adj, order_discounts)

    # 6. tax per line
    for line in lines:
        r = line.tax_rate_bp
        if tax_mode == "inclusive":
            line.tax_minor = round_half_up(line.net_minor * r, 10000 + r)
        else:
            line.tax_minor = round_half_up(line.net_minor * r, 10000)
    subtotal = sum(line.gross_minor for line in lines)
    discount = sum(line.discount_minor for line in lines)
    tax = sum(line.tax_minor for line in lines)
    net = subtotal - discount
    return PricedCart(
        currency=currency,
        lines=lines,
        order_discounts=order_discounts,
        coupons_not_applied=not_applied,
        subtotal_minor=subtotal,
        discount_minor=discount,
        tax_minor=tax,
        total_minor=net if tax_mode == "inclusive" else net + tax,
        tax_mode=tax_mode,
    )


def _apply_order_discount(
    lines: list[PricedLine], eligible: list[int], adj: Adjustment, summary: list[Adjustment]
) -> None:
    shares = allocate(adj.amount_minor, [lines[i].net_minor for i in eligible])
    applied = sum(shares)
    if applied <= 0:
        return
    for i, share in zip(eligible, shares, strict=True):
        if share:
            line = lines[i]
            _add(line, Adjustment(adj.kind, adj.rule_id, adj.name, share, f"share of: {adj.reason}"))
            line.discount_minor += share
            line.net_minor -= share
    adj.amount_minor = applied
    summary.append(adj)
