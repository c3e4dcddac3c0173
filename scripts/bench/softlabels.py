"""Rendered small, soft EAN/UPC labels: module size, defocus and print weight varied one at a
time, which a photo set cannot do. Read by the strategy, each decoder alone and the scanline
reader alone. Synthetic: it shows which conditions each reader survives, not a rate on packs."""

from __future__ import annotations

from typing import Any

import zxingcpp
from pyzbar import pyzbar

from edge.platform import gs1
from edge.scanning import scanline
from edge.scanning.evaluation import soft_label
from edge.scanning.strategy import Strategy

MODULES_PX = (1.5, 1.8, 2.2)
BLURS_PX = (0.6, 0.9, 1.2)
SPREADS = (-0.4, 0.0, 0.4)


def _codes() -> list[str]:
    """An ordinary EAN-13, a UPC-A, and one made only of 1, 2, 7 and 8 (which pair their edges
    alike: swapped pairwise, they can keep a valid check digit)."""
    return ["4006381333931", "0036000291452", "781281278127" + gs1.check_digit("781281278127")]


def soft_label_figures(strategy: Strategy) -> dict[str, Any]:
    readers = {
        "ours": lambda g: [c.gtin13 or c.text for c in strategy.decode(g).codes],
        "zxing-cpp": lambda g: [r.text.zfill(13) for r in zxingcpp.read_barcodes(g)],
        "pyzbar": lambda g: [r.data.decode("ascii", "replace").zfill(13) for r in pyzbar.decode(g)],
        "scanline": lambda g: [r.text.zfill(13) for r in scanline.read(g)],
    }
    out: dict[str, dict[str, int]] = {name: {"read": 0, "wrong": 0} for name in readers}
    labels = 0
    for code in _codes():
        for module_px in MODULES_PX:
            for blur in BLURS_PX:
                for spread in SPREADS:
                    gray = soft_label(code, module_px, blur, spread)
                    labels += 1
                    for name, run in readers.items():
                        got = run(gray)
                        out[name]["read"] += code in got
                        out[name]["wrong"] += any(g != code for g in got)
    return {"labels": labels, "by_reader": out}
