"""What other domains may ask of checkout: the catalog (`catalog` slot), the member attached to
a cart (`carts`), and the transaction search (`sales`).

Fashion SKUs: every size/colour variant has its own GTIN; variants of one garment share `style`.
"""

from __future__ import annotations

from dataclasses import dataclass
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
