"""The answer to a checkout, built the same way for a new sale and for a replayed one, and the
event a sale sends the cloud."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from edge.checkout import attribution
from edge.checkout.chaincoupons import Held
from edge.checkout.models import Attribution, CouponRedemption, ExitPass, Order, PaymentIntent
from edge.checkout.priced import PricedCart
from edge.checkout.schemas import CheckoutOut
from edge.platform.codes import Codes
from edge.platform.store import ReadTx


def checkout_result(s: ReadTx, codes: Codes, order_id: str, replayed: bool = False) -> CheckoutOut:
    """What a checkout answers, first time or replayed: the order, its payment, a fresh exit pass
    code while the pass is unused, and where its receipt and pass image live."""
    order = s.get(Order, order_id)
    assert order is not None
    xp = s.exec(select(ExitPass).where(ExitPass.order_id == order_id)).first()
    pay = s.exec(select(PaymentIntent).where(PaymentIntent.order_id == order_id)).first()
    assert xp is not None and pay is not None
    audit = xp.audit_reasons if xp.audit_flag else ""
    token = codes.pass_code(order_id, xp.id, xp.expires_at, audit) if not xp.used_at and not xp.revoked else ""
    return CheckoutOut(
        order_id=order.id,
        status=order.status,
        currency=order.currency,
        total_minor=order.total_minor,
        payment={
            "id": pay.id,
            "provider": pay.provider,
            "status": pay.status,
            "amount_minor": pay.amount_minor,
        },
        exit_pass=token,
        exit_pass_expires_at=xp.expires_at.isoformat(),
        pass_svg_url=f"/api/kiosk/orders/{order.id}/pass.svg",
        receipt_url=f"/api/orders/{order.id}/receipt",
        receipt_html_url=f"/api/orders/{order.id}/receipt.html",
        replayed=replayed,
    )


def paid_event(
    order: Order,
    store_id: str,
    priced: PricedCart,
    intent: PaymentIntent,
    redemptions: list[CouponRedemption],
    held: Held,
    credits: list[Attribution],
) -> dict[str, Any]:
    """The `order.paid` event the cloud receives (docs/cloud-api.yaml): the sale, its pricing,
    payment, every coupon used (even one that took nothing off) and the guides' credit."""
    return {
        "order_id": order.id,
        "store_id": store_id,
        "kiosk_id": order.kiosk_id,
        "member_id": order.member_id,
        "created_at": order.created_at.isoformat(),
        "pricing": priced.as_dict(),
        "payment": {"id": intent.id, "provider": intent.provider},
        "coupons": [
            {"coupon_id": r.coupon_id, "amount_minor": r.amount_minor, **held.event_fields(r.coupon_id)}
            for r in redemptions
        ],
        "attribution": attribution.event_fields(credits),
    }
