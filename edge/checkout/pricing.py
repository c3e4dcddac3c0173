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

Every adjustment says why twice: `reason`, an English sentence for receipts and API clients, and
`code` + `params`, which the pages render in the shopper's language (catalog key `adj.<code>`;
a `*_minor` param is money in the cart's currency, `date` an ISO day). A promotion's or coupon's
`name` is what the retailer typed: data, shown as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge.checkout.priced import (
    Adjustment,
    CouponSpec,
    PricedCart,
    PricedLine,
    PriceItem,
    allocate,
    money,
    round_half_up,
)
from edge.checkout.promotions import MultiBuy, Threshold


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


def _multibuy_adjustment(rule: MultiBuy, amount: int) -> Adjustment:
    if rule.price_minor is not None:
        reason = f"{rule.buy} for {money(rule.price_minor)}"
        code, params = "promo.multibuy", {"buy": rule.buy, "price_minor": rule.price_minor}
    else:
        reason = f"buy {rule.buy} get {rule.free} free (cheapest free)"
        code, params = "promo.free", {"buy": rule.buy, "free": rule.free}
    return Adjustment("multibuy", rule.id, rule.name, amount, reason, code, params)


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
            adj = Adjustment("markdown", "expiry", "Short date", u.member_off, item.markdown_reason,
                             item.markdown_code, dict(item.markdown_params))  # fmt: skip
            _add(line, adj)
        elif u.member_off:
            member_unit = item.member_unit_minor or 0
            _add(
                line,
                Adjustment(
                    "member_price",
                    "member",
                    "Member price",
                    u.member_off,
                    f"member price {money(member_unit)} instead of {money(item.unit_minor)}",
                    "member_price",
                    {"member_minor": member_unit, "shelf_minor": item.unit_minor},
                ),
            )
        if u.promo and u.promo_off:
            _add(line, _multibuy_adjustment(rules[u.promo], u.promo_off))
    for line in lines:
        line.discount_minor = sum(a.amount_minor for a in line.adjustments)
        line.net_minor = line.gross_minor - line.discount_minor

    order_discounts: list[Adjustment] = []
    params: dict[str, Any]  # an adjustment's `params`, as the page renders them (ADJUSTMENT_CODES)
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
        code, params = "promo.threshold", {"off_minor": off, "spend_minor": tier_spend}
        if th.exclude_categories:
            reason += f" (not counting {', '.join(sorted(th.exclude_categories))})"
            code, params = "promo.threshold_excluding", {**params, "categories": sorted(th.exclude_categories)}
        adj = Adjustment("threshold", th.id, th.name, off, reason, code, params)
        _apply_order_discount(lines, eligible, adj, order_discounts)

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
                    "params": {"min_spend_minor": c.min_spend_minor, "cart_minor": running},
                }
            )
            continue
        if c.kind == "percent":
            amount = round_half_up(running * c.value, 100)
            reason = f"{c.value}% off {money(running)}"
            code, params = "coupon.percent", {"percent": c.value, "base_minor": running}
        elif c.value > running:
            amount = running
            reason = f"{money(c.value)} off (capped at the cart total)"
            code, params = "coupon.fixed_capped", {"amount_minor": c.value, "applied_minor": amount}
        else:
            amount = c.value
            reason = f"{money(c.value)} off"
            code, params = "coupon.fixed", {"amount_minor": c.value}
        adj = Adjustment("coupon", c.coupon_id, c.name or "Coupon", amount, reason, code, params)
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
            share_of = f"share of: {adj.reason}"
            _add(line, Adjustment(adj.kind, adj.rule_id, adj.name, share, share_of, adj.code, dict(adj.params)))
            line.discount_minor += share
            line.net_minor -= share
    adj.amount_minor = applied
    summary.append(adj)
