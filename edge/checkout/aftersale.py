"""After the sale: staff void and refund (audited), e-receipts, members and coupon issuing."""

from __future__ import annotations

import html
import json
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from edge.checkout.models import KioskSession, Member, Order, PaymentIntent, Refund
from edge.checkout.payments import PaymentProvider
from edge.checkout.priced import money
from edge.checkout.refunds import Refunds
from edge.checkout.schemas import CouponIssueIn
from edge.checkout.sessions import member_view
from edge.checkout.settings import CheckoutConfig
from edge.platform.codes import Codes
from edge.platform.errors import Conflict, InvalidInput, NotFound
from edge.platform.locks import KeyedLocks
from edge.platform.store import ReadTx, Store
from edge.platform.timeutil import as_utc, utcnow


def order_for(s: ReadTx, order_id: str, kiosk_id: str | None) -> Order:
    """The order a caller may see: a kiosk (`kiosk_id`) only its own sales, staff (None) any.

    Another kiosk's order is `unknown_order`, the same as one that does not exist: a kiosk token
    must not reach a stranger's receipt or exit pass (a pass is a walk past the gate).
    """
    order = s.get(Order, order_id) if isinstance(order_id, str) and len(order_id) <= 36 else None
    if order is None or (kiosk_id is not None and order.kiosk_id != kiosk_id):
        raise NotFound("no such order", code="unknown_order")
    return order


def receipt_number(order_id: str) -> str:
    """What a shopper reads out at the service desk: the order id's last 8 characters (random
    in a UUIDv7, and what the dashboard's search finds); the whole id stays in small print."""
    return order_id.replace("-", "")[-8:].upper()


class AfterSale(Refunds):
    """Void and refund (see refunds.py), receipts, members and coupon issuing."""

    def __init__(
        self,
        settings: CheckoutConfig,
        store: Store,
        codes: Codes,
        providers: dict[str, PaymentProvider],
        locks: KeyedLocks,
    ) -> None:
        self.settings = settings
        self.store = store
        self.locks = locks
        self.codes = codes
        self.providers = providers

    # --- receipts ---------------------------------------------------------------------------
    def receipt(self, order_id: str, kiosk_id: str | None = None) -> dict[str, Any]:
        with self.store.read() as s:
            order = order_for(s, order_id, kiosk_id)
            pricing = json.loads(order.pricing)
            pay = s.exec(select(PaymentIntent).where(PaymentIntent.order_id == order_id)).first()
            refunds = list(
                s.exec(
                    select(Refund)
                    .where(Refund.order_id == order_id, Refund.kind == "refund", Refund.status == "done")
                    .order_by(col(Refund.created_at))
                )
            )
            ks = s.get(KioskSession, order.session_id)
            member = (
                member_view(s.get(Member, order.member_id), ks.member_via if ks else "") if order.member_id else None
            )
        tz = ZoneInfo(self.settings.store.timezone)
        taxes: dict[str, dict[str, int]] = {}
        for line in pricing["lines"]:
            t = taxes.setdefault(line["tax_class"], {"rate_bp": line["tax_rate_bp"], "net_minor": 0, "tax_minor": 0})
            t["net_minor"] += line["net_minor"]
            t["tax_minor"] += line["tax_minor"]
        return {
            "store": {"id": self.settings.store.id, "name": self.settings.store.name},
            "order_id": order.id,
            "receipt_number": receipt_number(order.id),
            "status": order.status,
            "time": as_utc(order.created_at).astimezone(tz).isoformat(timespec="seconds"),
            "member": member,
            "currency": order.currency,
            "lines": pricing["lines"],
            "order_discounts": pricing["order_discounts"],
            "subtotal_minor": order.subtotal_minor,
            "discount_minor": order.discount_minor,
            "tax_minor": order.tax_minor,
            "tax_mode": pricing["tax_mode"],
            "taxes": taxes,
            "total_minor": order.total_minor,
            "refunded_minor": order.refunded_minor,
            "payment": {"provider": pay.provider, "status": pay.status} if pay else None,
            "refunds": [
                {
                    "id": r.id,
                    "amount_minor": r.amount_minor,
                    "lines": json.loads(r.lines),
                    "time": as_utc(r.created_at).astimezone(tz).isoformat(timespec="seconds"),
                }
                for r in refunds
            ],
        }

    def receipt_html(self, order_id: str, kiosk_id: str | None = None) -> str:
        """A printable page; every text from data is escaped."""
        r = self.receipt(order_id, kiosk_id)
        e = html.escape
        rows = []
        for line in r["lines"]:
            rows.append(
                f"<tr><td>{e(line['name'])}</td><td>{line['qty']}</td><td>{money(line['gross_minor'])}</td></tr>"
            )
            for a in line["adjustments"]:
                rows.append(
                    f"<tr class=adj><td colspan=2>&nbsp;&nbsp;{e(a['name'])}: {e(a['reason'])}</td>"
                    f"<td>-{money(a['amount_minor'])}</td></tr>"
                )
        included = ", included" if r["tax_mode"] == "inclusive" else ""
        taxes = "".join(
            f"<tr><td colspan=2>Tax {e(k)} ({v['rate_bp'] / 100:g}%{included})</td>"
            f"<td>{money(v['tax_minor'])}</td></tr>"
            for k, v in r["taxes"].items()
        )
        number = receipt_number(r["order_id"])
        refunds = "".join(
            f"<tr><td colspan=2>Refund {e(x['time'])}</td><td>-{money(x['amount_minor'])}</td></tr>"
            for x in r["refunds"]
        )
        return (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>Receipt {e(number)}</title></head><body>"
            f"<h1>{e(r['store']['name'])}</h1><p>Receipt no. {e(number)}<br>{e(r['time'])}<br>"
            f"Status: {e(r['status'])}</p><table>"
            "<thead><tr><th>Item</th><th>Qty</th><th>Amount</th></tr></thead><tbody>"
            + "".join(rows)
            + f"</tbody><tfoot><tr><td colspan=2>Subtotal</td><td>{money(r['subtotal_minor'])}</td></tr>"
            f"<tr><td colspan=2>Discounts</td><td>-{money(r['discount_minor'])}</td></tr>"
            f"<tr><th colspan=2>Total {e(r['currency'])}</th><th>{money(r['total_minor'])}</th></tr>"
            + taxes
            + refunds
            + f"</tfoot></table><p>Paid by {e((r['payment'] or {}).get('provider', ''))}</p>"
            f"<p><small>Order reference {e(r['order_id'])}</small></p></body></html>"
        )

    # --- members and coupons ----------------------------------------------------------------
    def add_member(self, phone: str, name: str, staff: str, pay_rail: str = "", agreement: str = "") -> dict[str, Any]:
        digits = "".join(ch for ch in phone if ch.isdigit())
        if not 6 <= len(digits) <= 15:
            raise InvalidInput("a phone number has 6 to 15 digits", code="bad_phone")
        _check_agreement(pay_rail, agreement)
        with self.store.write() as s:
            if s.exec(select(Member).where(Member.phone == digits)).first():
                raise Conflict("a member with this phone number exists", code="member_exists")
            m = Member(phone=digits, name=name.strip()[:80], pay_rail=pay_rail, pay_agreement=agreement)
            s.add(m)
            s.audit(staff, "checkout.member_added", m.id, pay_rail=pay_rail)
        return {"member_id": m.id, "name": m.name, "member_code": self.codes.member_code(m.id), "pay_rail": pay_rail}

    def set_pay_agreement(self, member_id: str, rail: str, agreement: str, staff: str) -> dict[str, Any]:
        """The wallet agreement face-pay charges (the agreement id only: the wallet keeps the money side)."""
        _check_agreement(rail, agreement)
        with self.store.write() as s:
            m = s.get(Member, member_id)
            if m is None:
                raise NotFound("no such member", code="unknown_member")
            m.pay_rail, m.pay_agreement = rail, agreement if rail else ""
            s.add(m)
            s.audit(staff, "checkout.member_pay_agreement", member_id, pay_rail=rail)
        return {"member_id": member_id, "pay_rail": rail}

    def erase_member(self, member_id: str, staff: str, reason: str) -> bool:
        """Erase a member's personal data here (phone, name, wallet agreement), audited with the
        reason and queued for the cloud. The id stays on past orders: the books still add up.
        False when there is no such member."""
        if not reason.strip():
            raise InvalidInput("give a reason: it is kept in the audit log", code="reason_required")
        with self.store.write() as s:
            m = s.get(Member, member_id)
            if m is None:
                return False
            m.phone, m.name, m.pay_rail, m.pay_agreement, m.erased = None, "", "", "", True
            m.phone_hash = None
            s.add(m)
            s.outbox("members", "member.erased", {"member_id": member_id, "reason": reason, "at": utcnow().isoformat()})
            s.audit(staff, "checkout.member_erased", member_id, reason=reason)
        return True

    def issue_coupons(self, req: CouponIssueIn, staff: str) -> dict[str, Any]:
        if req.kind == "percent" and not 1 <= req.value <= 90:
            raise InvalidInput("a percentage coupon is 1 to 90 percent", code="bad_coupon")
        if req.kind == "fixed" and req.value <= 0:
            raise InvalidInput("a fixed coupon takes off more than 0", code="bad_coupon")
        start, end = req.valid_from or utcnow(), req.valid_to
        if end <= start:
            raise InvalidInput("valid_to must be after valid_from", code="bad_coupon")
        cid = "cp-" + secrets.token_hex(6)
        codes = []
        for _ in range(req.count):
            claims = {
                "c": cid,
                "s": secrets.token_hex(6),
                "k": req.kind,
                "v": req.value,
                "min": req.min_spend_minor,
                "nbf": int(start.timestamp()),
                "exp": int(end.timestamp()),
                "lim": req.per_member_limit,
                "off": req.offline_policy,
                "n": req.name or (f"{req.value}% off" if req.kind == "percent" else f"{money(req.value)} off"),
            }
            codes.append(self.codes.coupon_code(claims))
        with self.store.write() as s:
            s.audit(staff, "checkout.coupons_issued", cid, count=req.count, kind=req.kind, value=req.value)
        return {"coupon_id": cid, "codes": codes}


def _check_agreement(rail: str, agreement: str) -> None:
    if bool(rail) != bool(agreement):
        raise InvalidInput("a wallet agreement needs both its wallet and its id", code="bad_pay_agreement")
