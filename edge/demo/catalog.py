"""Demo catalog: the grocery and fashion codes the demo clips show, a weighed item, promotions."""

from __future__ import annotations

from typing import Any

from edge.config import Settings
from edge.demo.gtins import FASHION, GROCERY
from edge.platform.gs1 import check_digit

# Variable-measure items (value zeroed; the scale prints the real value into the code).
LOOSE_APPLES = "2800001" + "00000"
LOOSE_APPLES += check_digit(LOOSE_APPLES)  # prefix 28: weight in grams, price per kg
DELI_HAM = "2100002" + "00000"
DELI_HAM += check_digit(DELI_HAM)  # prefix 21: price embedded by the deli scale

WATER = GROCERY[3][0]
CRACKERS = GROCERY[2][0]
RICE_WINE = GROCERY[5][0]


def demo_rows(currency: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for gtin, name, price, category in GROCERY:
        rows.append(
            {
                "gtin": gtin,
                "name": name,
                "price_minor": price,
                "currency": currency,
                "category": category,
                "tax_class": "reduced" if category in ("dairy", "grocery") else "standard",
                "stock": 50,
                "age_restricted": gtin == RICE_WINE,
                "member_price_minor": price - 100 if category == "snacks" else None,
            }
        )
    for gtin, style, name, size, colour, price, stock in FASHION:
        rows.append(
            {
                "gtin": gtin,
                "name": f"{name} {size} {colour}",
                "price_minor": price,
                "currency": currency,
                "category": "fashion",
                "style": style,
                "size": size,
                "colour": colour,
                "stock": stock,
            }
        )
    rows.append(
        {
            "gtin": LOOSE_APPLES,
            "name": "Loose apples (per kg)",
            "price_minor": 1280,
            "currency": currency,
            "category": "produce",
            "tax_class": "reduced",
            "weighed": True,
            "stock": 0,
        }
    )
    rows.append(
        {
            "gtin": DELI_HAM,
            "name": "Deli ham (priced by weight)",
            "price_minor": 6800,
            "currency": currency,
            "category": "deli",
            "tax_class": "reduced",
            "weighed": True,
            "stock": 0,
        }
    )
    return rows


DEMO_PROMOTIONS: list[dict[str, Any]] = [
    {
        "id": "water-3-for-12",
        "kind": "multibuy",
        "name": "Sparkling water 3 for 12.00",
        "gtins": [WATER],
        "buy": 3,
        "price_minor": 1200,
        "priority": 10,
    },
    {
        "id": "crackers-b2g1",
        "kind": "multibuy",
        "name": "Rice crackers buy 2 get 1 free",
        "gtins": [CRACKERS],
        "buy": 2,
        "free": 1,
        "priority": 20,
    },
    {
        "id": "spend-100-save-20",
        "kind": "threshold",
        "name": "20.00 off when you spend 100.00",
        "tiers": [[10000, 2000]],
        "exclude_categories": ["alcohol"],
        "priority": 50,
    },
]


def seed_catalog(settings: Settings) -> None:
    """Import the demo catalog into the store's database (idempotent: upserts by GTIN and id)."""
    from edge.app import prepare_storage
    from edge.checkout.catalog import import_products
    from edge.checkout.promotions import parse_promotion

    store = prepare_storage(settings)
    try:
        report = import_products(store, demo_rows(settings.store.currency), default_currency=settings.store.currency)
        if report.refused:
            raise RuntimeError(f"demo catalog rows refused: {report.refused}")
        with store.write() as s:
            for data in DEMO_PROMOTIONS:
                s.merge(parse_promotion(data))
    finally:
        store.dispose()
