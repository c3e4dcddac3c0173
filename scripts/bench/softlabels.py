"""Rendered small, soft EAN/UPC labels: module size, defocus and print weight varied one at a
time, which a photo set cannot do. Read by the strategy, each decoder alone and the scanline
reader alone. Synthetic: it shows which conditions each reader survives, not a rate on packs."""

from __future__ import annotations

import itertools
from collections.abc import Callable
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
PERSPECTIVES = (0.8, 1.25)  # the row's last module this many times as wide as its first


def soft_label(
    code: str,
    module_px: float,
    blur_px: float,
    spread: float,
    *,
    height: int = 60,
    seed: int = 1,
    perspective: float = 1.0,
) -> np.ndarray:
    """An EAN-13 as a camera sees a small label: `module_px` pixels a module, bars printed
    `spread` modules wider than nominal (negative: thinner), defocused by `blur_px`, with sensor
    noise (seeded), and seen at an angle when `perspective` is not 1 (the last module that many
    times as wide as the first, as a plane turned away from the camera projects it). For tests
    and the bench: conditions a photo set cannot vary one at a time."""
    hi = 10  # rendered at 10 px a module, then reduced by area averaging
    mods = "0" * 11 + ean13_modules(code) + "0" * 11
    row = np.repeat(np.array([c == "1" for c in mods], dtype=np.float64), hi)
    k = round(abs(spread) * hi / 2)
    if k:
        grown = np.convolve(row, np.ones(2 * k + 1), mode="same")
        row = (grown > 0 if spread > 0 else grown >= 2 * k + 1).astype(np.float64)
    if perspective != 1.0:  # a 1-D projective map whose slope at the ends differs by `perspective`
        q = np.sqrt(perspective)
        t = (np.arange(row.size) + 0.5) / row.size
        row = np.interp(q * t / (1 - t + q * t) * row.size, np.arange(row.size), row)
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
    """Flat labels (module size, blur and print weight varied) and labels seen at an angle (module
    size, blur and PERSPECTIVES varied, nominal print), each read by every reader."""
    readers: dict[str, Callable[[np.ndarray], list[str]]] = {
        "ours": lambda g: [c.gtin13 or c.text for c in strategy.decode(g).codes],
        "zxing-cpp": lambda g: [r.text.zfill(13) for r in zxingcpp.read_barcodes(g)],
        "pyzbar": lambda g: [r.data.decode("ascii", "replace").zfill(13) for r in pyzbar.decode(g)],
        "scanline": lambda g: [r.text.zfill(13) for r in scanline.read(g)],
    }
    grid = list(itertools.product(_codes(), MODULES_PX, BLURS_PX))
    flat = _tally(readers, [(c, soft_label(c, m, b, s)) for c, m, b in grid for s in SPREADS])
    angled = _tally(readers, [(c, soft_label(c, m, b, 0.0, perspective=p)) for c, m, b in grid for p in PERSPECTIVES])
    return {**flat, "angled": angled}


def _tally(
    readers: dict[str, Callable[[np.ndarray], list[str]]], labels: list[tuple[str, np.ndarray]]
) -> dict[str, Any]:
    out: dict[str, dict[str, int]] = {name: {"read": 0, "wrong": 0} for name in readers}
    for code, gray in labels:
        for name, run in readers.items():
            got = run(gray)
            out[name]["read"] += code in got
            out[name]["wrong"] += any(g != code for g in got)
    return {"labels": len(labels), "by_reader": out}
