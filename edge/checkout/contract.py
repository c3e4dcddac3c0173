"""What other domains may ask of the catalog (provided as ctx.require("catalog")).

Fashion SKUs: every size/colour variant has its own GTIN; variants of one garment share `style`.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel


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
