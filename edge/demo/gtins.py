"""The demo store's product codes, shared by the demo catalog and the generated camera clips."""

from __future__ import annotations

from edge.platform.gs1 import check_digit


def ean13(body12: str) -> str:
    return body12 + check_digit(body12)


# Grocery items for the kiosk clip (GTIN-13, prefix 690-695 = China).
GROCERY = [
    (ean13("690123400001"), "Jasmine tea 250 g", 2990, "grocery"),
    (ean13("690123400002"), "Whole milk 1 L", 1350, "dairy"),
    (ean13("690123400003"), "Rice crackers 180 g", 890, "snacks"),
    (ean13("690123400004"), "Sparkling water 500 ml", 450, "drinks"),
    (ean13("690123400005"), "Dark chocolate 100 g", 1590, "snacks"),
    (ean13("690123400006"), "Rice wine 500 ml", 4800, "alcohol"),  # age restricted
]

# Fashion variants for the fitting-room clip: (gtin, style, name, size, colour, price, stock).
FASHION = [
    (ean13(f"69512340{n:04d}"), style, name, size, colour, price, stock)
    for n, (style, name, size, colour, price, stock) in enumerate(
        [
            ("TEE-01", "Cotton crew tee", "S", "white", 7900, 4),
            ("TEE-01", "Cotton crew tee", "M", "white", 7900, 0),
            ("TEE-01", "Cotton crew tee", "L", "white", 7900, 6),
            ("TEE-01", "Cotton crew tee", "M", "navy", 7900, 3),
            ("JEANS-02", "Slim jeans", "30", "indigo", 29900, 2),
            ("JEANS-02", "Slim jeans", "32", "indigo", 29900, 5),
            ("JEANS-02", "Slim jeans", "34", "indigo", 29900, 0),
        ],
        start=1,
    )
]
