"""The pricing rules, table-driven: each row is a cart, the rules in force and what the shopper pays."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from edge.checkout.priced import CouponSpec, PriceItem, allocate, round_half_up
from edge.checkout.pricing import price_cart
from edge.checkout.promotions import MultiBuy, Threshold

RATES = {"standard": 1300, "reduced": 900, "zero": 0}
TEA = "06901234000012"
WATER = "06901234000043"
CHOC = "06901234000050"
WINE = "06901234000067"


def item(
    line_id: int,
    gtin: str,
    qty: int,
    unit: int,
    member: int | None = None,
    category: str = "",
    tax: str = "standard",
) -> PriceItem:
    return PriceItem(line_id, gtin, gtin[-4:], qty, unit, member, category, tax)


W3FOR12 = MultiBuy("w3", "Water 3 for 12.00", frozenset({WATER}), "", buy=3, price_minor=1200, priority=1)
B2G1 = MultiBuy("b2g1", "Choc buy 2 get 1", frozenset({CHOC}), "", buy=2, free=1, priority=2)
SNACKS_B1G1 = MultiBuy("snk", "Snacks buy 1 get 1", frozenset(), "snacks", buy=1, free=1, priority=3)
SPEND100 = Threshold("t100", "20 off 100", ((10000, 2000),))
TIERS = Threshold("tiers", "tiers", ((5000, 500), (10000, 1500)), frozenset({"alcohol"}))
PCT10 = CouponSpec("c10", "percent", 10)
FIX5 = CouponSpec("f5", "fixed", 500)
FIX5_MIN200 = CouponSpec("f5m", "fixed", 500, min_spend_minor=20000)


@dataclass
class Case:
    name: str
    items: list[PriceItem]
    total: int
    discount: int
    member: bool = False
    multibuys: list[MultiBuy] = field(default_factory=list)
    thresholds: list[Threshold] = field(default_factory=list)
    coupons: list[CouponSpec] = field(default_factory=list)
    adjustments: set[str] | None = None  # rule ids that must appear somewhere
    not_applied: set[str] = field(default_factory=set)


CASES = [
    Case("unit price times quantity", [item(1, TEA, 3, 2990)], 8970, 0),
    Case(
        "member price when a member is attached",
        [item(1, CHOC, 2, 1590, 1490)],
        2980,
        200,
        member=True,
        adjustments={"member"},
    ),
    Case("no member price without a member", [item(1, CHOC, 2, 1590, 1490)], 3180, 0),
    Case(
        "3 for 12.00 with one left over",
        [item(1, WATER, 4, 450)],
        1650,
        150,
        multibuys=[W3FOR12],
        adjustments={"w3"},
    ),
    Case("3 for 12.00 needs three", [item(1, WATER, 2, 450)], 900, 0, multibuys=[W3FOR12]),
    Case("buy 2 get 1: the third is free", [item(1, CHOC, 3, 1590)], 3180, 1590, multibuys=[B2G1]),
    Case("buy 2 get 1 twice over six units", [item(1, CHOC, 6, 1590)], 6360, 3180, multibuys=[B2G1]),
    Case(
        "mix and match by category: the cheaper unit is free",
        [item(1, CHOC, 1, 1590, category="snacks"), item(2, TEA, 1, 890, category="snacks")],
        1590,
        890,
        multibuys=[SNACKS_B1G1],
    ),
    Case(
        "member price beats a weaker multi-buy",
        [item(1, WATER, 3, 450, 350)],
        1050,
        300,
        member=True,
        multibuys=[W3FOR12],
        adjustments={"member"},
    ),
    Case(
        "a stronger multi-buy replaces the member price, never both",
        [item(1, CHOC, 3, 1590, 1490)],
        3180,
        1590,
        member=True,
        multibuys=[B2G1],
        adjustments={"b2g1"},
    ),
    Case(
        "a unit joins one multi-buy only",
        [item(1, CHOC, 2, 1590, category="snacks")],
        1590,
        1590,
        multibuys=[B2G1, SNACKS_B1G1],
        adjustments={"snk"},
    ),
    Case("threshold met", [item(1, TEA, 4, 2990)], 9960, 2000, thresholds=[SPEND100], adjustments={"t100"}),
    Case("threshold just missed", [item(1, TEA, 1, 9999)], 9999, 0, thresholds=[SPEND100]),
    Case(
        "threshold counts the spend after multi-buys",
        [item(1, CHOC, 3, 1590), item(2, TEA, 3, 2200)],
        9780,
        1590 + 0,
        multibuys=[B2G1],
        thresholds=[SPEND100],
    ),
    Case(
        "highest tier met, excluded categories do not count",
        [item(1, TEA, 2, 3000), item(2, WINE, 2, 4800, category="alcohol")],
        6000 + 9600 - 500,
        500,
        thresholds=[TIERS],
    ),
    Case(
        "percentage coupon on the total after the threshold",
        [item(1, TEA, 4, 2990)],
        8964,
        2000 + 996,
        thresholds=[SPEND100],
        coupons=[PCT10],
    ),
    Case("percentage before fixed", [item(1, TEA, 1, 10000)], 8500, 1500, coupons=[FIX5, PCT10]),
    Case("percentage rounds half up once", [item(1, TEA, 1, 1005)], 904, 101, coupons=[PCT10]),
    Case("fixed coupon capped at the cart total", [item(1, WATER, 1, 450)], 0, 450, coupons=[FIX5]),
    Case(
        "coupon minimum spend not met is reported, not applied",
        [item(1, TEA, 1, 2990)],
        2990,
        0,
        coupons=[FIX5_MIN200],
        not_applied={"f5m"},
    ),
    Case("empty cart", [], 0, 0, coupons=[PCT10], not_applied={"c10"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_pricing_rules(case: Case) -> None:
    cart = price_cart(
        case.items,
        currency="CNY",
        member=case.member,
        multibuys=case.multibuys,
        thresholds=case.thresholds,
        coupons=case.coupons,
        tax_rates_bp=RATES,
    )
    assert (cart.total_minor, cart.discount_minor) == (case.total, case.discount)
    assert cart.subtotal_minor - cart.discount_minor == cart.total_minor  # tax inclusive
    assert sum(line.net_minor for line in cart.lines) == cart.total_minor
    for line in cart.lines:
        assert line.discount_minor == sum(a.amount_minor for a in line.adjustments)
        assert 0 <= line.net_minor <= line.gross_minor
        assert all(a.reason for a in line.adjustments)  # every discount says why
    seen = {a.rule_id for line in cart.lines for a in line.adjustments}
    if case.adjustments is not None:
        assert case.adjustments <= seen
    assert {c["coupon_id"] for c in cart.coupons_not_applied} == case.not_applied


TAX_CASES = [
    # (net, rate_bp, mode, tax, total)
    (11300, 1300, "inclusive", 1300, 11300),
    (1000, 900, "inclusive", 83, 1000),  # 1000*900/10900 = 82.57 -> 83
    (1000, 1300, "exclusive", 130, 1130),
    (5, 1000, "exclusive", 1, 6),  # 0.5 rounds half up
    (999, 0, "inclusive", 0, 999),
]


@pytest.mark.parametrize(("net", "rate", "mode", "tax", "total"), TAX_CASES)
def test_tax_per_line(net: int, rate: int, mode: str, tax: int, total: int) -> None:
    cart = price_cart(
        [item(1, TEA, 1, net, tax="x")],
        currency="CNY",
        member=False,
        multibuys=[],
        thresholds=[],
        coupons=[],
        tax_rates_bp={"x": rate},
        tax_mode=mode,
    )
    assert (cart.tax_minor, cart.total_minor) == (tax, total)


def test_order_discount_shares_sum_exactly_and_follow_the_lines() -> None:
    cart = price_cart(
        [item(1, TEA, 1, 3333), item(2, CHOC, 1, 3333), item(3, WATER, 1, 3334, tax="reduced")],
        currency="CNY",
        member=False,
        multibuys=[],
        thresholds=[SPEND100],
        coupons=[],
        tax_rates_bp=RATES,
    )
    shares = [a.amount_minor for line in cart.lines for a in line.adjustments]
    assert sum(shares) == 2000 and sorted(shares) == [666, 667, 667]
    assert cart.order_discounts[0].amount_minor == 2000


@pytest.mark.parametrize(
    ("amount", "weights", "expected"),
    [
        (2, [1, 1, 1], [1, 1, 0]),
        (10, [1, 1, 1], [1, 1, 1]),
        (8, [3, 3, 3], [3, 3, 2]),
        (0, [5, 5], [0, 0]),
        (7, [0, 7], [0, 7]),
        (100, [10, 20], [10, 20]),
    ],
)
def test_allocate(amount: int, weights: list[int], expected: list[int]) -> None:
    assert allocate(amount, weights) == expected


def test_round_half_up() -> None:
    assert [round_half_up(n, 10) for n in (4, 5, 14, 15, 25)] == [0, 1, 1, 2, 3]
    with pytest.raises(ValueError):
        round_half_up(-1, 2)


def _priced(items: list[PriceItem], member: bool = False, multibuys: list[MultiBuy] | None = None) -> list[Any]:
    cart = price_cart(items, currency="CNY", member=member, multibuys=multibuys or [], thresholds=[], coupons=[],
                      tax_rates_bp=RATES)  # fmt: skip
    return [(line.net_minor, sorted(a.kind for a in line.adjustments)) for line in cart.lines]


def test_a_short_dated_pack_gets_the_better_of_its_markdown_and_its_other_prices() -> None:
    """A markdown never makes a pack cost more than it would without its date."""
    small = replace(item(1, TEA, 1, 990, member=800), markdown_percent=10, markdown_reason="10% off: use by")
    big = replace(small, markdown_percent=30, markdown_reason="30% off: use by")
    assert _priced([small], member=True) == [(800, ["member_price"])]  # 10% (99 off) < member price (190 off)
    assert _priced([big], member=True) == [(693, ["markdown"])]  # 30% (297 off) > member price
    assert _priced([big]) == [(693, ["markdown"])]
    # in a 3-for-12.00 the short-dated bottle joins the group when the group saves more (3 x 500 -> 1200)
    waters = [item(1, WATER, 2, 500), replace(item(2, WATER, 1, 500), markdown_percent=10, markdown_reason="x")]
    assert sum(net for net, _ in _priced(waters, multibuys=[W3FOR12])) == 1200
