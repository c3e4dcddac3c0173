"""The kiosk session and cart-line writes through prebuilt Core statements.

Adding an item is the request a shopper waits on most (every scan). Through the ORM it cost
a session load, a product get, a line query, a count, object construction and a flush: about
4 ms of CPU per scan on a 2-core box, most of it SQLAlchemy's ORM bookkeeping. These statements
are compiled once and run on the session's own connection, inside the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, update

from edge.checkout.models import (
    CartLine,
    CartScan,
    CouponRedemption,
    KioskSession,
    Member,
    PaymentIntent,
    Product,
    Promotion,
    WalletCoupon,
)
from edge.checkout.settings import CheckoutSettings
from edge.platform.errors import Conflict, NotFound, Unprocessable
from edge.platform.gs1facts import Facts
from edge.platform.rows import row_type
from edge.platform.store import ReadTx, Tx
from edge.platform.timeutil import utcnow

_KS: Table = KioskSession.__table__  # type: ignore[attr-defined]
_LINE: Table = CartLine.__table__  # type: ignore[attr-defined]
_PRODUCT: Table = Product.__table__  # type: ignore[attr-defined]
_MEMBER: Table = Member.__table__  # type: ignore[attr-defined]
_PROMO: Table = Promotion.__table__  # type: ignore[attr-defined]
_SCAN: Table = CartScan.__table__  # type: ignore[attr-defined]
_WALLET: Table = WalletCoupon.__table__  # type: ignore[attr-defined]

_SESSION = select(_KS).where(_KS.c.id == bindparam("id"))
_PRODUCT_BY_GTIN = select(_PRODUCT.c.gtin, _PRODUCT.c.name, _PRODUCT.c.weighed, _PRODUCT.c.age_restricted).where(
    _PRODUCT.c.gtin == bindparam("gtin")
)
_LINE_BY_CODE = select(_LINE.c.id, _LINE.c.qty).where(
    _LINE.c.session_id == bindparam("sid"), _LINE.c.code == bindparam("code")
)
_LINE_COUNT = select(func.count()).select_from(_LINE).where(_LINE.c.session_id == bindparam("sid"))
_LINE_INSERT = insert(_LINE)
_LINE_QTY = update(_LINE).where(_LINE.c.id == bindparam("b_id")).values(qty=bindparam("b_qty"))
_TOUCHED = ("version", "updated_at", "member_id", "member_via", "coupons", "age_checked_by", "guide_id", "guide_store")
_TOUCH = update(_KS).where(_KS.c.id == bindparam("b_id")).values({c: bindparam(f"b_{c}") for c in _TOUCHED})
_LINE_OWNER = select(_LINE.c.id).where(_LINE.c.id == bindparam("id"), _LINE.c.session_id == bindparam("sid"))
_LINE_DELETE = delete(_LINE).where(_LINE.c.id == bindparam("id"))
_CLOSE_OPEN = (
    update(_KS)
    .where(_KS.c.kiosk_id == bindparam("b_kiosk"), _KS.c.status == "open")
    .values(status="cancelled", updated_at=bindparam("b_at"))
)
_MEMBER_BY_ID = select(_MEMBER).where(_MEMBER.c.id == bindparam("id"))
_MEMBER_BY_PHONE = select(_MEMBER).where(_MEMBER.c.phone == bindparam("phone")).limit(1)
_PROMOTIONS = select(_PROMO)
_SCAN_CLAIM = insert(_SCAN).prefix_with("OR IGNORE")
_SCAN_SEEN = select(_SCAN.c.scan_id).where(_SCAN.c.session_id == bindparam("sid"), _SCAN.c.scan_id == bindparam("scan"))
_TOUCH_IF_UNCHANGED = _TOUCH.where(_KS.c.version == bindparam("b_was"), _KS.c.status == "open")


SessionRow = row_type(KioskSession)  # a plain dataclass with KioskSession's fields: see edge.platform.rows


@dataclass(frozen=True)
class ProductRow:
    gtin: str
    name: str
    weighed: bool
    age_restricted: bool


def session(s: ReadTx, session_id: str) -> KioskSession | None:
    found = s.run(_SESSION, {"id": session_id}).mappings().first()
    return SessionRow(**dict(found)) if found is not None else None


def product(s: ReadTx, gtin: str) -> ProductRow | None:
    found = s.run(_PRODUCT_BY_GTIN, {"gtin": gtin}).first()
    return ProductRow(found[0], found[1], bool(found[2]), bool(found[3])) if found is not None else None


def line_by_code(s: ReadTx, session_id: str, code: str) -> tuple[int, int] | None:
    """(line id, qty) of this code's line in the cart, if any."""
    found = s.run(_LINE_BY_CODE, {"sid": session_id, "code": code}).first()
    return (int(found[0]), int(found[1])) if found is not None else None


def line_count(s: ReadTx, session_id: str) -> int:
    return int(s.run(_LINE_COUNT, {"sid": session_id}).scalar_one())


def insert_line(
    s: Tx, session_id: str, code: str, gtin: str, qty: int, kind: str, value: int, expires_on: date | None = None
) -> None:
    s.run(
        _LINE_INSERT,
        {
            "session_id": session_id,
            "code": code,
            "gtin": gtin,
            "qty": qty,
            "measure_kind": kind,
            "measure_value": value,
            "expires_on": expires_on,
            "added_at": utcnow(),
        },
    )


def claim_scan(s: Tx, session_id: str, scan_id: str) -> bool:
    """True the first time this scan id is seen for this cart (the line change may go ahead)."""
    return bool(s.run(_SCAN_CLAIM, {"session_id": session_id, "scan_id": scan_id}).rowcount)


def scan_seen(s: ReadTx, session_id: str, scan_id: str) -> bool:
    return s.run(_SCAN_SEEN, {"sid": session_id, "scan": scan_id}).first() is not None


def set_line_qty(s: Tx, line_id: int, qty: int) -> None:
    s.run(_LINE_QTY, {"b_id": line_id, "b_qty": qty})


def touch(s: Tx, ks: KioskSession) -> None:
    """Save a cart change (member, coupons, the staff ID check) as a new cart version: the kiosk page and the idle
    timer both key on it."""
    ks.version += 1
    ks.updated_at = utcnow()
    s.run(_TOUCH, {"b_id": ks.id, **{f"b_{c}": getattr(ks, c) for c in _TOUCHED}})


def touch_if_unchanged(s: Tx, ks: KioskSession) -> bool:
    """`touch`, only if the cart is still open at the version it was read at: a change decided in
    a read (before the write slot) commits only if nothing else changed the cart meanwhile."""
    was = ks.version
    ks.version += 1
    ks.updated_at = utcnow()
    params = {"b_id": ks.id, "b_was": was, **{f"b_{c}": getattr(ks, c) for c in _TOUCHED}}
    if s.run(_TOUCH_IF_UNCHANGED, params).rowcount == 1:
        return True
    ks.version = was
    return False


def close_open_sessions(s: Tx, kiosk_id: str) -> None:
    """One shopper at a time: a new session at a kiosk cancels whatever was left open there."""
    s.run(_CLOSE_OPEN, {"b_kiosk": kiosk_id, "b_at": utcnow()})


def line_in_cart(s: ReadTx, session_id: str, line_id: int) -> bool:
    return s.run(_LINE_OWNER, {"id": line_id, "sid": session_id}).first() is not None


def delete_line(s: Tx, line_id: int) -> None:
    s.run(_LINE_DELETE, {"id": line_id})


def member(s: ReadTx, member_id: str) -> Any:
    """The member row (attribute access like the Member model), or None."""
    return s.run(_MEMBER_BY_ID, {"id": member_id}).first()


def member_by_phone(s: ReadTx, phone: str) -> Any:
    return s.run(_MEMBER_BY_PHONE, {"phone": phone}).first()


def promotions(s: ReadTx) -> list[Any]:
    """Every promotion row, read in the caller's snapshot (never two catalog versions at once)."""
    return list(s.run(_PROMOTIONS).all())


# --- coupons and the order commit ---------------------------------------------------------------
_COUPON: Table = CouponRedemption.__table__  # type: ignore[attr-defined]
_INTENT: Table = PaymentIntent.__table__  # type: ignore[attr-defined]
_COUPON_USED = select(_COUPON.c.id).where(_COUPON.c.use_key == bindparam("key")).limit(1)
_COUPON_USES = (
    select(func.count())
    .select_from(_COUPON)
    .where(_COUPON.c.coupon_id == bindparam("coupon"), _COUPON.c.member_id == bindparam("member"))
)
_PAID = (
    update(_KS)
    .where(_KS.c.id == bindparam("b_id"))
    .values(status="paid", order_id=bindparam("b_order"), version=bindparam("b_version"), updated_at=bindparam("b_at"))
)
_AUTHORIZED = (
    update(_INTENT)
    .where(_INTENT.c.id == bindparam("b_id"))
    .values(
        status="authorized",
        order_id=bindparam("b_order"),
        provider_ref=bindparam("b_ref"),
        updated_at=bindparam("b_at"),
    )
)


def coupon_key_used(s: ReadTx, use_key: str) -> bool:
    return s.run(_COUPON_USED, {"key": use_key}).first() is not None


def coupon_uses(s: ReadTx, coupon_id: str, member_id: str) -> int:
    return int(s.run(_COUPON_USES, {"coupon": coupon_id, "member": member_id}).scalar_one())


def coupon_use_key(s: ReadTx, claims: dict[str, Any], member_id: str | None) -> str:
    """The redemption key this use would take; refuses a used or exhausted coupon."""
    limit = int(claims.get("lim", 0))
    if limit == 0:
        key = f"{claims['c']}:{claims['s']}"
        if coupon_key_used(s, key):
            raise Conflict("this coupon has already been used", code="coupon_used")
        return key
    if member_id is None:
        raise Unprocessable("this coupon is for members; attach your membership first", code="coupon_needs_member")
    used = coupon_uses(s, claims["c"], member_id)
    if used >= limit:
        raise Conflict(f"this coupon can be used {limit} time(s) per member", code="coupon_used")
    return f"{claims['c']}:m:{member_id}:{used + 1}"


def mark_paid(s: Tx, ks: KioskSession, order_id: str) -> None:
    ks.status, ks.order_id, ks.version, ks.updated_at = "paid", order_id, ks.version + 1, utcnow()
    s.run(_PAID, {"b_id": ks.id, "b_order": order_id, "b_version": ks.version, "b_at": ks.updated_at})


def mark_authorized(s: Tx, intent_id: str, order_id: str, ref: str) -> None:
    s.run(_AUTHORIZED, {"b_id": intent_id, "b_order": order_id, "b_ref": ref, "b_at": utcnow()})


def member_agreement(s: ReadTx, member_id: str) -> tuple[str, str] | None:
    """(rail, agreement id) of a member's face-pay wallet agreement, or None."""
    row = member(s, member_id)
    return (
        (str(row.pay_rail), str(row.pay_agreement)) if row is not None and row.pay_rail and row.pay_agreement else None
    )


def check_measure(cfg: CheckoutSettings, facts: Facts) -> tuple[str, str, int]:
    """(cart key GTIN-14, measure kind, value) of a code; typed errors for an embedded price or
    weight out of bounds."""
    kind, value = facts.measure, facts.value
    if kind == "price" and not 0 < value <= cfg.max_weighed_price_minor:
        raise Unprocessable("the price on this label is not valid; ask staff", code="bad_embedded_price")
    if kind == "weight" and not 0 < value <= cfg.max_weighed_grams:
        raise Unprocessable("the weight on this label is not valid; ask staff", code="bad_embedded_weight")
    return facts.line_key, kind, value


def resolve(s: ReadTx, facts: Facts) -> ProductRow:
    """The catalog item behind a code (a variable-measure code's item has the value zeroed)."""
    kind = facts.measure
    found = product(s, facts.lookup_gtin)
    if found is None:
        raise NotFound("this item is not in the catalog; ask staff for help", code="unknown_product")
    if not kind and found.weighed:
        raise Unprocessable("weighed items need the scale's label", code="weighed_needs_label")
    if kind and not found.weighed:
        raise Unprocessable("this label does not belong to a weighed item", code="bad_embedded_price")
    return found


# --- a member's wallet (edge.checkout.wallets) ----------------------------------------------------
_WALLET_NOW = (
    select(_WALLET.c.use_key, _WALLET.c.claims)
    .where(_WALLET.c.member_id == bindparam("member"))
    .where(_WALLET.c.nbf <= bindparam("now"), _WALLET.c.exp > bindparam("now"))
    .where(~select(_COUPON.c.id).where(_COUPON.c.use_key == _WALLET.c.use_key).exists())
    .order_by(_WALLET.c.use_key)
)


def wallet_now(s: ReadTx, member_id: str, now: int) -> list[tuple[str, dict[str, Any]]]:
    """The member's wallet coupons valid at `now` (epoch seconds) and not redeemed on this box."""
    return [(key, json.loads(raw)) for key, raw in s.run(_WALLET_NOW, {"member": member_id, "now": now}).all()]
