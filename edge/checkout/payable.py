"""Whether a cart may be paid now, and the payment intent for it: the checks every way to pay
shares (at the kiosk with a code or a face, or in the wallet app), read under the cart's lock."""

from __future__ import annotations

import json

from edge.checkout import cartrows, shelf
from edge.checkout.models import KioskSession, PaymentIntent
from edge.checkout.sessions import Sessions
from edge.checkout.settings import CheckoutConfig
from edge.platform.errors import Conflict, Unprocessable
from edge.platform.store import ReadTx
from edge.platform.timeutil import store_today


def payable_intent(
    sessions: Sessions,
    settings: CheckoutConfig,
    s: ReadTx,
    session_id: str,
    kiosk_id: str | None,
    provider: str,
    client_key: str | None,
    expected_total_minor: int | None,
) -> tuple[KioskSession, PaymentIntent]:
    """The open cart, priced and checked, and a new intent for its total (not written yet).

    Refuses an empty cart, a pending ID check, an expired or recalled pack, nothing to pay, a total
    that is not the one the shopper saw, and a coupon used elsewhere meanwhile."""
    ks = sessions.load_row(s, session_id, kiosk_id)
    priced, rows = sessions.price(s, ks)
    if not priced.lines:
        raise Unprocessable("the cart is empty", code="empty_cart")
    if not ks.age_checked_by and any(r.age_restricted for r in rows.values()):
        raise Conflict("an age-restricted item needs a staff ID check first", code="age_check_required")
    shelf.refuse_expired_lines(rows.values(), store_today(settings.store.timezone))
    shelf.refuse_recalled_lines(s, rows.values())
    if priced.total_minor <= 0:
        raise Unprocessable("nothing to pay; ask staff to close this sale", code="nothing_to_pay")
    if expected_total_minor is not None and expected_total_minor != priced.total_minor:
        raise Conflict(
            "the cart changed since you pressed pay; check the new total and pay again",
            code="cart_changed",
            details={"total_minor": priced.total_minor, "charged": False},
        )
    for c in json.loads(ks.coupons):  # re-check now: it may have been used at another kiosk meanwhile
        cartrows.coupon_use_key(s, c, ks.member_id)
    intent = PaymentIntent(
        session_id=ks.id,
        client_key=(client_key or "")[:80],
        provider=provider,
        amount_minor=priced.total_minor,
        currency=priced.currency,
        status="authorizing",
    )
    return ks, intent
