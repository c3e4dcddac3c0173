"""What other domains may ask of checkout: the catalog (`catalog` slot), the member attached to
a cart (`carts`), and the transaction search and guides' attributed sales (`sales`).

Fashion SKUs: every size/colour variant has its own GTIN; variants of one garment share `style`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from edge.platform.gs1facts import Facts


class ProductView(BaseModel):
    gtin: str  # GTIN-14
    name: str
    price_minor: int
    currency: str
    category: str = ""
    style: str = ""  # groups the size/colour variants of one garment
    size: str = ""
    colour: str = ""
    stock: int = 0
    weighed: bool = False
    age_restricted: bool = False
    member_price_minor: int | None = None  # price for an attached member, when lower
    tax_class: str = "standard"


class CatalogReader(Protocol):
    def get(self, gtin: str) -> ProductView | None:
        """A product by GTIN (any of 8/12/13/14 digits, normalised inside); None if unknown."""

    def variants(self, gtin: str) -> list[ProductView]:
        """All variants of the same style (including this one), with stock; [] if unknown."""

    def refusal(self, facts: Facts) -> dict[str, Any] | None:
        """Why this pack may not be sold or handed to a shopper (code item_expired or item_recalled,
        a message, details); None when it may."""


@dataclass(frozen=True)
class AttachedMember:
    member_id: str
    via: str  # "code": a signed member QR (proves who it is); "phone": typed digits (does not)


class CartMembers(Protocol):
    def attached_member(self, session_id: str) -> AttachedMember | None:
        """The member attached to this kiosk cart, and how; None when there is none (or no cart)."""


class SalesLedger(Protocol):
    def transactions(self, q: str = "", limit: int = 100) -> list[dict[str, Any]]:
        """Orders, refunds and voids, newest first (the dashboard's transaction search)."""

    def attributed(self, since: datetime) -> list[dict[str, Any]]:
        """Lines sold since then that a fitting room or a guide's code gave credit for: each
        {order_id, gtin, style, qty, net_minor, guide_id (None: tried without a guide), guide_store,
        via ("fitting" | "code"), at}; lines of voided orders are left out."""


PHONE_PREFIX = "phone-"  # the owner of a cart scanned on a shopper's own phone (edge.phone), not a kiosk


class ShopperCarts(Protocol):
    """The `shopping` slot: a cart on the shopper's own phone (edge.phone) with the kiosk's
    pricing, members, coupons, in-app pay and exit pass. `owner` is the phone's id
    (PHONE_PREFIX + the id in its cookie): a cart answers only to its owner. Answers are the
    kiosk API's JSON shapes (CartView, ItemAdded, CheckoutOut); errors are the kiosk's typed ones."""

    def resume(self, owner: str) -> dict[str, Any]:
        """{cart, payment, last_order}: the phone's cart (one being paid in the wallet, with the payment
        as the wallet-payment answer; else the open one, or a new one) and its last paid order
        with its exit pass while that pass can still open a gate (else None)."""

    def cart(self, session_id: str, owner: str) -> dict[str, Any]: ...

    def add_scan(self, session_id: str, owner: str, text: str, facts: Facts | None, scan_id: str) -> dict[str, Any]:
        """A code the phone's camera saw (confirmed by scanning): an item, a member card or a coupon;
        once per `scan_id`."""

    def add_typed(self, session_id: str, owner: str, code: str, qty: int, scan_id: str) -> dict[str, Any]: ...

    def set_qty(self, session_id: str, owner: str, line_id: int, qty: int) -> dict[str, Any]: ...

    def attach_member(self, session_id: str, owner: str, code: str | None, phone: str | None) -> dict[str, Any]: ...

    def apply_coupon(self, session_id: str, owner: str, code: str) -> dict[str, Any]: ...

    def call_staff(self, session_id: str, owner: str) -> dict[str, Any]:
        """The shopper asks for a person (one open help task per cart); the task's public view."""

    def pay_options(self) -> list[str]:
        """The wallets a phone can pay in here ("alipay", "wechatpay"; "sandbox" on a sandbox box with none)."""

    def wallet_order(
        self, session_id: str, owner: str, rail: str, key: str | None, expected: int | None
    ) -> dict[str, Any]: ...

    def wallet_payment(self, session_id: str, owner: str) -> dict[str, Any]: ...

    def sandbox_pay(self, session_id: str, owner: str, key: str | None, expected: int | None) -> dict[str, Any]: ...

    def receipts(self, session_id: str, owner: str) -> list[dict[str, Any]]:
        """The e-receipts (the kiosk's receipt JSON) of the member the cart holds by their signed
        code, newest first; 403 `member_code_required` without one."""

    def exit_pass(self, order_id: str, owner: str) -> str:
        """The signed pass text of the phone's own paid order (409 when used, expired or voided)."""
