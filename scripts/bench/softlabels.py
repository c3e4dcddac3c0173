"""Rendered small, soft EAN/UPC labels: module size, defocus and print weight varied one at a
time, which a photo set cannot do. Read by the strategy, each decoder alone and the scanline
reader alone. Synthetic: it shows which conditions each reader survives, not a rate on packs."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar

from edge.demo.media import ean13_modules
from edge.platform import gs1
from edge.scanning import scanline
from edge.scanning.strategy import Strategy

MODULES_PX = (1.5, 1.8, 2.2)
BLURS_PX = (0.6, 0.9, 1.2)
SPREADS = (-0.4, 0.0, 0.4)


def soft_label(
    code: str, module_px: float, blur_px: float, spread: float, *, height: int = 60, seed: int = 1
) -> np.ndarray:
    """An EAN-13 as a camera sees a small label: `module_px` pixels a module, bars printed
    `spread` modules wider than nominal (negative: thinner), defocused by `blur_px`, with sensor
    noise (seeded). For tests and the bench: conditions a photo set cannot vary one at a time."""
    hi = 10  # rendered at 10 px a module, then reduced by area averaging
    mods = "0" * 11 + ean13_modules(code) + "0" * 11
    row = np.repeat(np.array([c == "1" for c in mods], dtype=np.float64), hi)
    k = round(abs(spread) * hi / 2)
    if k:
        grown = np.convolve(row, np.ones(2 * k + 1), mode="same")
        row = (grown > 0 if spread > 0 else grown >= 2 * k + 1).astype(np.float64)
    img = np.tile(230 - 200 * row, (height * hi // 4, 1))
    small = cv2.resize(img, (round(len(mods) * module_px), height), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), blur_px) + np.random.default_rng(seed).normal(0, 4.0, small.shape)
    canvas = np.full((height + 40, small.shape[1] + 40), 230.0)
    canvas[20:-20, 20:-20] = small
    return np.asarray(np.clip(canvas, 0, 255).astype(np.uint8))


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
