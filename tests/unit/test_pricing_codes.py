"""Every price text the engine writes also comes as a code with params, which the pages render in
the shopper's language (`adj.<code>` in both catalogs, money params in the store's currency);
the English `reason` stays as it was for receipts and API clients."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.checkout.cartview import markdown
from edge.checkout.priced import ADJUSTMENT_CODES, NOT_APPLIED_CODES, CouponSpec, PricedCart, PriceItem
from edge.checkout.pricing import price_cart
from edge.checkout.promotions import MultiBuy, Threshold

UI = Path(__file__).resolve().parents[2] / "kiosk_ui"
RATES = {"standard": 1300, "reduced": 900}
TEA, WATER, CHOC, WINE = "06901234000012", "06901234000043", "06901234000050", "06901234000067"
W3FOR12 = MultiBuy("w3", "Water 3 for 12.00", frozenset({WATER}), "", buy=3, price_minor=1200, priority=1)
B2G1 = MultiBuy("b2g1", "Choc buy 2 get 1", frozenset({CHOC}), "", buy=2, free=1, priority=2)
SPEND100 = Threshold("t100", "20 off 100", ((10000, 2000),))
SPEND100_NO_ALCOHOL = Threshold("t100x", "20 off 100", ((10000, 2000),), frozenset({"alcohol", "tobacco"}))


def _item(line_id: int, gtin: str, qty: int, unit: int, member: int | None = None, category: str = "") -> PriceItem:
    return PriceItem(line_id, gtin, gtin[-4:], qty, unit, member, category)


def _price(items: list[PriceItem], **kw: Any) -> PricedCart:
    args: dict[str, Any] = {"member": False, "multibuys": [], "thresholds": [], "coupons": []}
    args.update(kw)
    return price_cart(items, currency="CNY", tax_rates_bp=RATES, **args)


def _adjustments(cart: PricedCart) -> list[dict[str, Any]]:
    return [a for line in cart.as_dict()["lines"] for a in line["adjustments"]] + cart.as_dict()["order_discounts"]


def _one(cart: PricedCart, code: str) -> dict[str, Any]:
    found = [a for a in cart.as_dict()["order_discounts"] if a["code"] == code]
    found = found or [a for line in cart.as_dict()["lines"] for a in line["adjustments"] if a["code"] == code]
    assert found, f"no {code} in {_adjustments(cart)}"
    return found[0]


def test_each_rule_says_why_as_a_code_with_params_and_keeps_its_english_reason() -> None:
    member = _price([_item(1, CHOC, 1, 1590, member=1490)], member=True)
    assert {k: _one(member, "member_price")[k] for k in ("kind", "params", "reason")} == {
        "kind": "member_price",
        "params": {"member_minor": 1490, "shelf_minor": 1590},
        "reason": "member price 14.90 instead of 15.90",
    }
    multi = _price([_item(1, WATER, 3, 450)], multibuys=[W3FOR12])
    water = _one(multi, "promo.multibuy")
    assert (water["params"], water["reason"], water["name"]) == (
        {"buy": 3, "price_minor": 1200},
        "3 for 12.00",
        "Water 3 for 12.00",  # the retailer's name: data, passed on as typed
    )
    free = _one(_price([_item(1, CHOC, 3, 1590)], multibuys=[B2G1]), "promo.free")
    assert free["params"] == {"buy": 2, "free": 1} and free["amount_minor"] == 1590

    big = [_item(1, TEA, 4, 2990), _item(2, WINE, 1, 4800, category="alcohol")]
    plain = _price(big, thresholds=[SPEND100])
    assert _one(plain, "promo.threshold")["params"] == {"off_minor": 2000, "spend_minor": 10000}
    excl = _one(_price(big, thresholds=[SPEND100_NO_ALCOHOL]), "promo.threshold_excluding")
    assert excl["params"] == {"off_minor": 2000, "spend_minor": 10000, "categories": ["alcohol", "tobacco"]}
    assert excl["reason"] == "20.00 off for spending at least 100.00 (not counting alcohol, tobacco)"


def test_coupons_say_why_and_a_waiting_coupon_says_what_it_needs() -> None:
    items = [_item(1, TEA, 2, 2990)]  # 59.80
    cart = _price(
        items,
        coupons=[
            CouponSpec("p10", "percent", 10, name="Ten off"),
            CouponSpec("f5", "fixed", 500),
            CouponSpec("big", "fixed", 5000, min_spend_minor=50000),
        ],
    )
    pct = _one(cart, "coupon.percent")
    assert (pct["params"], pct["amount_minor"], pct["name"]) == ({"percent": 10, "base_minor": 5980}, 598, "Ten off")
    fixed = _one(cart, "coupon.fixed")
    assert (fixed["params"], fixed["name"]) == ({"amount_minor": 500}, "Coupon")
    assert cart.coupons_not_applied == [
        {
            "coupon_id": "big",
            "code": "min_spend_not_met",
            "reason": "needs a spend of 500.00; the cart is 53.82",  # "big" is met before "f5" (coupon id order)
            "params": {"min_spend_minor": 50000, "cart_minor": 5382},
        }
    ]
    capped = _price([_item(1, TEA, 1, 300)], coupons=[CouponSpec("f5", "fixed", 500)])
    off = _one(capped, "coupon.fixed_capped")
    assert (off["params"], off["amount_minor"]) == ({"amount_minor": 500, "applied_minor": 300}, 300)
    assert off["reason"] == "5.00 off (capped at the cart total)"


def test_a_lines_share_of_an_order_discount_carries_the_discounts_code() -> None:
    cart = _price([_item(1, TEA, 2, 3000), _item(2, CHOC, 3, 1590)], thresholds=[SPEND100])
    order = cart.as_dict()["order_discounts"][0]
    shares = [a for line in cart.as_dict()["lines"] for a in line["adjustments"] if a["kind"] == "threshold"]
    assert len(shares) == 2 and sum(a["amount_minor"] for a in shares) == order["amount_minor"]
    for share in shares:
        assert (share["code"], share["params"]) == (order["code"], order["params"])
        assert share["reason"] == f"share of: {order['reason']}"


@pytest.mark.parametrize(
    ("days", "code", "params", "reason_end"),
    [
        (0, "markdown.last_day", {"percent": 30}, "(today)"),
        (1, "markdown.tomorrow", {"percent": 20}, "(in 1 day)"),
        (2, "markdown.days_left", {"percent": 20, "days": 2}, "(in 2 days)"),
    ],
)
def test_a_short_dated_packs_markdown_has_a_code(days: int, code: str, params: dict[str, int], reason_end: str) -> None:
    today = date(2026, 12, 3)
    use_by = today + timedelta(days=days)
    mark = markdown(use_by, today, {0: 30, 2: 20})
    assert (mark.code, dict(mark.params)) == (code, {**params, "date": use_by.isoformat()})
    assert mark.reason == f"{mark.percent}% off: use by {use_by.isoformat()} {reason_end}"
    item = PriceItem(1, TEA, "tea", 1, 1000, markdown_percent=mark.percent, markdown_reason=mark.reason,
                     markdown_code=mark.code, markdown_params=mark.params)  # fmt: skip
    adj = _one(_price([item]), code)
    assert (adj["kind"], adj["params"], adj["reason"]) == ("markdown", dict(mark.params), mark.reason)
    hash(item)  # the item stays a frozen, hashable value
    assert markdown(today + timedelta(days=3), today, {0: 30, 2: 20}).code == ""  # no markdown that far out
    assert markdown(None, today, {0: 30}).percent == 0


def test_the_engine_writes_only_listed_codes_with_their_listed_params() -> None:
    carts = [
        _price([_item(1, CHOC, 1, 1590, member=1490)], member=True),
        _price([_item(1, WATER, 3, 450), _item(2, CHOC, 3, 1590)], multibuys=[W3FOR12, B2G1]),
        _price([_item(1, TEA, 4, 2990)], thresholds=[SPEND100, SPEND100_NO_ALCOHOL]),
        _price([_item(1, TEA, 4, 2990)], coupons=[CouponSpec("p", "percent", 5), CouponSpec("f", "fixed", 100)]),
    ]
    seen = set()
    for cart in carts:
        for a in _adjustments(cart):
            assert a["code"] in ADJUSTMENT_CODES, a
            assert set(a["params"]) == set(ADJUSTMENT_CODES[a["code"]]), a
            seen.add(a["code"])
    assert {"member_price", "promo.multibuy", "promo.free", "promo.threshold", "coupon.percent", "coupon.fixed"} <= seen


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_every_code_has_a_sentence_in_both_catalogs_with_its_params() -> None:
    """The kiosk renders `adj.<code>` with each `x_minor` param as money `{x}` (kiosk/cart.js)."""
    en = json.loads((UI / "common/i18n/en.json").read_text(encoding="utf-8"))
    zh = json.loads((UI / "common/i18n/zh-CN.json").read_text(encoding="utf-8"))
    for code, params in {**ADJUSTMENT_CODES, **NOT_APPLIED_CODES}.items():
        names = {p.removesuffix("_minor") for p in params}
        for lang, catalog in (("en", en), ("zh-CN", zh)):
            key = f"adj.{code}"
            assert key in catalog and catalog[key].strip(), f"{key} missing from {lang}.json"
            used = _placeholders(catalog[key])
            assert used <= names, f"{lang} {key} uses {used - names}, which the server does not send"
            # every param is said, except the date beside a day count ("in 2 days" says when)
            assert names - used <= {"date", "applied"} or code.startswith("markdown"), (lang, key, names - used)
