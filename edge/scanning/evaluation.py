"""Measuring decoders against a manifest of labelled images (the benchmark and the tests use it):
our strategy beside pyzbar alone, zxing-cpp alone and their union, on the same loaded images,
compared the way shared/data/README.md says."""

from __future__ import annotations

import csv
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import zxingcpp

from edge.platform import gs1
from edge.scanning.strategy import Strategy

RETAIL = ("EAN-13", "EAN-8", "UPC-A", "UPC-E")
_ZX = {"EAN-13": "EAN-13", "EAN-8": "EAN-8", "UPC-A": "UPC-A", "UPC-E": "UPC-E"}
_ZB = {"EAN13": "EAN-13", "EAN8": "EAN-8", "UPCA": "UPC-A", "UPCE": "UPC-E"}


@dataclass
class Item:
    image: str
    symbology: str
    expected: set[str]
    hex: bool
    gray: np.ndarray | None


def comparable(symbology: str, text: str) -> str:
    """EAN/UPC as 13 digits (UPC-E expanded, EAN-8 stays 8); anything else as it is."""
    if symbology in RETAIL:
        try:
            if symbology == "UPC-E" and len(text) in (7, 8):
                text = gs1.upce_to_upca(text)
        except gs1.GS1Error:
            return text
        if len(text) == 8:
            return text
        if text.isdigit() and len(text) <= 13:
            return text.zfill(13)
    return text


def load(manifest: Path, pick: Callable[[list[dict[str, str]]], list[dict[str, str]]] | None = None) -> list[Item]:
    """The manifest's images as grayscale (QR texts hold CR/LF, hence newline=""); `pick` selects
    rows before any image is read."""
    items: list[Item] = []
    with manifest.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
        for row in pick(rows) if pick else rows:
            sym = row["symbology"]
            is_hex = row["expected_encoding"] == "hex"
            exp = {row["expected_text"] if is_hex else comparable(sym, row["expected_text"])}
            if row.get("alt_expected"):
                exp.add(comparable(sym, row["alt_expected"]))
            gray = cv2.imread(str(manifest.parent / row["image"]), cv2.IMREAD_GRAYSCALE)
            items.append(Item(row["image"], sym, exp, is_hex, gray))
    return items


Reads = list[tuple[str, str, bytes]]  # (retail symbology or "", text, raw bytes)


def run_ours(strategy: Strategy) -> Callable[[np.ndarray], Reads]:
    def go(gray: np.ndarray) -> Reads:
        return [
            (
                c.symbology if c.symbology in RETAIL else "",
                c.gtin13 or c.text if c.symbology in RETAIL else c.text,
                c.raw,
            )
            for c in strategy.decode(gray).codes
        ]

    return go


def run_zxing(gray: np.ndarray) -> Reads:
    """zxing-cpp alone, as a user would call it (all formats, defaults)."""
    try:
        res = zxingcpp.read_barcodes(gray, text_mode=zxingcpp.TextMode.Plain)
    except Exception:
        return []
    return [(_ZX.get(str(r.format), ""), r.text, bytes(r.bytes)) for r in res]


def run_zbar(gray: np.ndarray) -> Reads:
    """pyzbar alone, as a user would call it (all symbols); its ValueError loses the image."""
    from pyzbar import pyzbar

    try:
        res = pyzbar.decode(gray)
    except Exception:
        return []
    return [(_ZB.get(r.type, ""), r.data.decode("utf-8", "replace"), bytes(r.data)) for r in res]


def judge(item: Item, reads: Reads) -> tuple[bool, bool]:
    """(read correctly, returned something other than the expected code)."""
    outs = [r[2].hex() if item.hex else comparable(r[0], r[1]) if r[0] else r[1] for r in reads]
    return any(o in item.expected for o in outs), any(o not in item.expected for o in outs)


def measure(items: list[Item], runners: dict[str, Callable[[np.ndarray], Reads]]) -> dict[str, dict[str, object]]:
    """Every runner on every image; the union is zxing's and pyzbar's results together."""
    per: dict[str, list[tuple[bool, bool, float]]] = {n: [] for n in [*runners, "union"]}
    for item in items:
        if item.gray is None:
            for n in per:
                per[n].append((False, False, 0.0))
            continue
        got: dict[str, Reads] = {}
        for name, run in runners.items():
            t0 = time.perf_counter()
            got[name] = run(item.gray)
            ms = (time.perf_counter() - t0) * 1000
            ok, wrong = judge(item, got[name])
            per[name].append((ok, wrong, ms))
        ok, wrong = judge(item, got["zxing-cpp"] + got["pyzbar"])
        per["union"].append((ok, wrong, per["zxing-cpp"][-1][2] + per["pyzbar"][-1][2]))
    out: dict[str, dict[str, object]] = {}
    syms = sorted({i.symbology for i in items})
    for name, rows in per.items():
        times = sorted(r[2] for r in rows)
        by_sym = {
            s: round(100 * sum(r[0] for r, i in zip(rows, items, strict=True) if i.symbology == s)
                     / sum(1 for i in items if i.symbology == s), 1)
            for s in syms
        }  # fmt: skip
        out[name] = {
            "read_rate": round(100 * sum(r[0] for r in rows) / len(rows), 1),
            "read": sum(r[0] for r in rows),
            "wrong": sum(r[1] for r in rows),
            "wrong_images": [i.image for r, i in zip(rows, items, strict=True) if r[1]],
            "median_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
            "by_symbology": by_sym,
        }
    return out
