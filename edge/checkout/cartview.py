"""Reading a cart: one snapshot of its lines, the catalog and the rules, priced and shown.

Every cart change re-prices the whole cart from the database (the server computes every price),
so this is on the path of every scan; it reads through prebuilt statements (cartread, cartrows).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from edge.checkout import cartrows
from edge.checkout.cartread import CartRow, read_cart
from edge.checkout.models import KioskSession
from edge.checkout.priced import CouponSpec, PricedCart, PriceItem, round_half_up
from edge.checkout.pricing import price_cart
from edge.checkout.promotions import load_rules
from edge.checkout.schemas import CartView
from edge.checkout.settings import CheckoutConfig
from edge.platform.store import ReadTx
from edge.platform.timeutil import as_utc, store_today, utcnow

AnySession = KioskSession | KioskSession


def member_view(m: Any, via: str) -> dict[str, Any] | None:
    """What a kiosk screen or receipt may show of the attached member (a Member or its row).

    Only a signed member QR proves the shopper holds the membership; a typed phone number proves
    nothing, so then only the phone's last four digits show (which the shopper just typed), never
    the member's name or id. `name` is the text to display in both cases.
    """
    if m is None:
        return None
    if via == "code":
        return {"id": m.id, "name": m.name, "via": "code", "masked": False}
    tail = (m.phone or "")[-4:]
    return {"id": None, "name": f"••• {tail}" if tail else "•••", "via": "phone", "masked": True}


@dataclass(frozen=True)
class Markdown:
    """A short-dated pack's markdown: the percent off, the English reason (receipts, API clients)
    and the same as a code with params that the pages render in the shopper's language."""

    percent: int = 0
    reason: str = ""
    code: str = ""  # markdown.last_day | markdown.tomorrow | markdown.days_left
    params: tuple[tuple[str, int | str], ...] = ()


def markdown(expires_on: date | None, today: date, rules: dict[int, int]) -> Markdown:
    """The markdown for a pack with this use-by date: the rule of the fewest days that still
    covers the days left; none past the date (such a pack is refused when scanned)."""
    if expires_on is None:
        return Markdown()
    left = (expires_on - today).days
    covering = [days for days in rules if 0 <= left <= days]
    if not covering:
        return Markdown()
    percent = rules[min(covering)]
    when = "today" if left == 0 else f"in {left} day{'s' if left > 1 else ''}"
    code = "markdown.last_day" if left == 0 else "markdown.tomorrow" if left == 1 else "markdown.days_left"
    params: tuple[tuple[str, int | str], ...] = (("percent", percent), ("date", expires_on.isoformat()))
    if left > 1:
        params += (("days", left),)
    return Markdown(percent, f"{percent}% off: use by {expires_on.isoformat()} ({when})", code, params)


def price(s: ReadTx, ks: AnySession, settings: CheckoutConfig) -> tuple[PricedCart, dict[int, CartRow]]:
    """One read of lines with their products, and the rules: never two catalog versions at once."""
    cfg = settings.checkout
    rows = read_cart(s, ks.id)
    multis, thresholds = load_rules(cartrows.promotions(s), utcnow())
    items = []
    today = store_today(settings.store.timezone)
    for r in rows:
        mark = markdown(r.expires_on, today, cfg.expiry_markdowns)
        unit = r.price_minor
        if r.measure_kind == "price":
            unit = r.measure_value
        elif r.measure_kind == "weight":
            unit = round_half_up(r.price_minor * r.measure_value, 1000)
        items.append(
            PriceItem(
                line_id=r.line_id,
                gtin=r.gtin,
                name=r.name,
                qty=r.qty,
                unit_minor=unit,
                member_unit_minor=r.member_price_minor if not r.measure_kind else None,
                category=r.category,
                tax_class=r.tax_class,
                weighed=r.weighed,
                markdown_percent=mark.percent,
                markdown_reason=mark.reason,
                markdown_code=mark.code,
                markdown_params=mark.params,
            )
        )
    coupons = [
        CouponSpec(c["c"], c["k"], int(c["v"]), int(c.get("min", 0)), str(c.get("n", "")))
        for c in json.loads(ks.coupons)
    ]
    priced = price_cart(
        items,
        currency=settings.store.currency,
        member=ks.member_id is not None,
        multibuys=multis,
        thresholds=thresholds,
        coupons=coupons,
        tax_rates_bp=cfg.tax_rates_bp,
        tax_mode=cfg.tax_mode,
    )
    return priced, {r.line_id: r for r in rows}


def _wallet(s: ReadTx, ks: AnySession) -> list[dict[str, Any]]:
    """The attached member's wallet coupons (a member proven by their code only), each saying
    whether it applies to the cart now (edge.checkout.wallets)."""
    if not ks.member_id or ks.member_via != "code":
        return []
    held = {c["c"] for c in json.loads(ks.coupons)}
    return [
        {"coupon_id": c["c"], "name": c.get("n", ""), "kind": c["k"], "value": c["v"], "min_spend_minor": c["min"],
         "valid_to": datetime.fromtimestamp(c["exp"], UTC).isoformat(), "applied": c["c"] in held}
        for _key, c in cartrows.wallet_now(s, ks.member_id, int(time.time()))
    ]  # fmt: skip


def _measure(ln: CartRow) -> dict[str, Any]:
    """A weighed line's label facts as data (the page formats them in the shopper's language),
    plus an English sentence for receipts and older pages."""
    if ln.measure_kind == "weight":
        return {
            "measure": f"{ln.measure_value / 1000:.3f} kg at {ln.price_minor / 100:.2f}/kg",
            "measure_kind": "weight",
            "measure_grams": ln.measure_value,
            "price_per_kg_minor": ln.price_minor,
        }
    if ln.measure_kind == "price":
        return {"measure": "price from the scale label", "measure_kind": "price"}
    return {}


def view_of(s: ReadTx, ks: AnySession, settings: CheckoutConfig) -> CartView:
    priced, rows = price(s, ks, settings)
    out_lines = []
    needs_age = False
    for pl in priced.lines:
        d = pl.as_dict()
        ln = rows[pl.line_id]
        d["code"] = ln.code
        d["age_restricted"] = ln.age_restricted
        needs_age = needs_age or ln.age_restricted
        d.update(_measure(ln))
        out_lines.append(d)
    member = member_view(cartrows.member(s, ks.member_id), ks.member_via) if ks.member_id else None
    expires = as_utc(ks.updated_at) + timedelta(seconds=settings.checkout.session_idle_s)
    return CartView(
        session_id=ks.id,
        kiosk_id=ks.kiosk_id,
        status=ks.status,
        version=ks.version,
        member=member,
        guide={"guide_id": ks.guide_id} if ks.guide_id else None,
        age_check="not_needed" if not needs_age else ("done" if ks.age_checked_by else "required"),
        coupons=[
            {"coupon_id": c["c"], "name": c.get("n", ""), "kind": c["k"], "value": c["v"], "wallet": bool(c.get("w"))}
            for c in json.loads(ks.coupons)
        ],
        wallet=_wallet(s, ks),
        lines=out_lines,
        order_discounts=[a.as_dict() for a in priced.order_discounts],
        coupons_not_applied=priced.coupons_not_applied,
        currency=priced.currency,
        subtotal_minor=priced.subtotal_minor,
        discount_minor=priced.discount_minor,
        tax_minor=priced.tax_minor,
        total_minor=priced.total_minor,
        tax_mode=priced.tax_mode,
        order_id=ks.order_id,
        expires_at=expires.isoformat() if ks.status == "open" else None,
    )
