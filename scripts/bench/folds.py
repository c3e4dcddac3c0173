"""Cross-validation of the decoder's fallback passes over the public photos, grouped by source.

The fallback list (which passes, in which order) is the setting of the strategy that was chosen
by looking at read rates, so it is the one that can fit the public photos rather than the problem.
Each image is decoded once by every candidate pass (the shipped ones and a few more, each aimed
at one cause of a failed read); the strategy's outcome for any list is then exact without
decoding again, because the strategy stops at the first pass that returns a code it vouches for.

Folds are groups of source folders (zxing's `ean13-3`, quagga2's `upc`, ...): photos of one
folder share a camera, a lighting and a print, so a fold the list was not chosen on is the
nearest thing to photos nobody tuned on. For each fold the list is chosen again on the other
folds (greedy forward selection: add the pass that gains the most reads, a wrong read costing two,
while it gains) and scored on the fold: the pooled score is the cross-validated read rate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from edge.scanning import decoders as dec
from edge.scanning import scanline
from edge.scanning.codes import RETAIL
from edge.scanning.decoders import RawRead
from edge.scanning.evaluation import Item, judge, run_zbar, run_zxing
from edge.scanning.strategy import Strategy

WRONG_COST = 2  # a wrong read (a shopper charged for the wrong item) weighs as two missed ones


def group_of(image: str) -> str:
    """The source folder of an image of the shared set (its file name keeps it)."""
    m = re.match(r"images/(zxing-cpp|zxing)_([a-z0-9]+-\d+)_", image)
    if m:
        return f"{m.group(1)}/{m.group(2)}"
    m = re.match(r"images/(quagga2)_(.+)_image-", image)
    return f"{m.group(1)}/{m.group(2)}" if m else "other"


def make_folds(items: list[Item], k: int) -> list[list[int]]:
    """Item indexes in k folds of whole source folders, balanced by size (largest folder first)."""
    groups: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(group_of(item.image), []).append(i)
    folds: list[list[int]] = [[] for _ in range(k)]
    for _name, members in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
        min(folds, key=len).extend(members)
    return folds


def _sharpen(gray: np.ndarray) -> np.ndarray:
    """Unsharp mask: restores the edge slope a slightly defocused label loses."""
    blurred = cv2.GaussianBlur(gray, (0, 0), 2.0)
    return cv2.addWeighted(gray, 1.8, blurred, -0.8, 0)


def _half(gray: np.ndarray) -> np.ndarray:
    """Half size with area averaging: sensor noise on a large, sharp photo averages out."""
    return cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


def candidate_passes(strategy: Strategy) -> list[tuple[str, Callable[[np.ndarray], list[RawRead]]]]:
    """The shipped fallbacks, then extra candidates, each aimed at one physical cause."""
    fmts = strategy.formats
    extra: list[tuple[str, Callable[[np.ndarray], list[RawRead]]]] = [
        ("zxing_sharpened", lambda g: dec.read_zxing(_sharpen(g), fmts)),
        ("zxing_half", lambda g: dec.read_zxing(_half(g), fmts, scale=0.5)),
        ("zxing_global_binarizer", lambda g: dec.read_zxing(g, fmts, binarizer="global")),
        # The scanline reader's one threshold chosen by looking at reads (the margin a digit's
        # pattern must win by), looser and stricter than shipped, so that the folds choose it too.
        ("scanline_margin_0.03", lambda g: scanline.read(g, margin=0.03)),
        ("scanline_margin_0.08", lambda g: scanline.read(g, margin=0.08)),
    ]
    return list(strategy.fallbacks) + extra


@dataclass
class PassTable:
    """(read correctly, wrong, returned a code) per image and pass, and the baselines per image."""

    names: list[str]
    cells: list[dict[str, tuple[bool, bool, bool]]]
    zxing: list[tuple[bool, bool]]
    union: list[tuple[bool, bool]]


def pass_table(items: list[Item], strategy: Strategy) -> PassTable:
    passes = [("zxing", strategy._zx), *candidate_passes(strategy)]
    cells: list[dict[str, tuple[bool, bool, bool]]] = []
    zx: list[tuple[bool, bool]] = []
    union: list[tuple[bool, bool]] = []
    for item in items:
        row: dict[str, tuple[bool, bool, bool]] = {}
        if item.gray is None:
            cells.append({name: (False, False, False) for name, _ in passes})
            zx.append((False, False))
            union.append((False, False))
            continue
        for name, run in passes:
            try:
                codes, _ = strategy._arbitrate(item.gray, strategy._validated(run(item.gray)))
            except Exception:  # a pass that breaks on an odd image reads nothing, as in the strategy
                codes = []
            reads = [
                (
                    c.symbology if c.symbology in RETAIL else "",
                    c.gtin13 or c.text if c.symbology in RETAIL else c.text,
                    c.raw,
                )
                for c in codes
                if strategy.vouch(item.gray, c)  # as Strategy.decode answers a still
            ]
            ok, wrong = judge(item, reads)
            row[name] = (ok, wrong, bool(reads))  # a pass whose every code was vetoed answers nothing
        cells.append(row)
        a, b = run_zxing(item.gray), run_zbar(item.gray)
        zx.append(judge(item, a))
        union.append(judge(item, a + b))
    return PassTable([name for name, _ in passes], cells, zx, union)


def _as_read(symbology: str, gtin13: str | None, text: str, raw: bytes) -> tuple[str, str, bytes]:
    """As evaluation.run_ours reports a code (retail codes by their 13-digit form)."""
    if symbology in RETAIL:
        return symbology, gtin13 or text, raw
    return "", text, raw


def outcome(table: PassTable, idx: int, fallbacks: list[str]) -> tuple[bool, bool]:
    """What the strategy with these fallbacks answers on image idx: the first pass with a code
    that was not vetoed."""
    row = table.cells[idx]
    for name in ["zxing", *fallbacks]:
        ok, wrong, found = row[name]
        if found:
            return ok, wrong
    return False, False


def score(table: PassTable, idxs: list[int], fallbacks: list[str]) -> tuple[int, int]:
    reads = wrong = 0
    for i in idxs:
        ok, bad = outcome(table, i, fallbacks)
        reads += ok
        wrong += bad
    return reads, wrong


def select(table: PassTable, idxs: list[int]) -> list[str]:
    """Greedy forward selection of fallbacks on these images."""
    chosen: list[str] = []
    best = _value(score(table, idxs, chosen))
    while True:
        options = [n for n in table.names[1:] if n not in chosen]
        trials = [(_value(score(table, idxs, [*chosen, n])), n) for n in options]
        if not trials:
            return chosen
        value, name = max(trials, key=lambda t: (t[0], -table.names.index(t[1])))
        if value <= best:
            return chosen
        chosen.append(name)
        best = value


def _value(s: tuple[int, int]) -> int:
    return s[0] - WRONG_COST * s[1]


def cross_validate(items: list[Item], strategy: Strategy, k: int) -> dict[str, object]:
    """Public, per-fold and cross-validated read rates beside zxing-cpp alone and the union."""
    table = pass_table(items, strategy)
    shipped = [name for name, _ in strategy.fallbacks]
    folds = make_folds(items, k)
    everyone = list(range(len(items)))

    def pct(n: int, of: int) -> float:
        return round(100 * n / of, 1) if of else 0.0

    def base(rows: list[tuple[bool, bool]], idxs: list[int]) -> tuple[int, int]:
        return sum(rows[i][0] for i in idxs), sum(rows[i][1] for i in idxs)

    per_fold = []
    cv_reads = cv_wrong = 0
    by_symbology: dict[str, list[int]] = {}  # symbology -> [images, read on a fold not chosen on]
    for f, idxs in enumerate(folds):
        train = [i for i in everyone if i not in set(idxs)]
        chosen = select(table, train)
        r_cv, w_cv = score(table, idxs, chosen)
        for i in idxs:
            tally = by_symbology.setdefault(items[i].symbology, [0, 0])
            tally[0] += 1
            tally[1] += outcome(table, i, chosen)[0]
        r_sh, w_sh = score(table, idxs, shipped)
        r_zx, w_zx = base(table.zxing, idxs)
        r_un, w_un = base(table.union, idxs)
        cv_reads, cv_wrong = cv_reads + r_cv, cv_wrong + w_cv
        per_fold.append({
            "fold": f + 1,
            "images": len(idxs),
            "groups": sorted({group_of(items[i].image) for i in idxs}),
            "shipped_read_rate": pct(r_sh, len(idxs)), "shipped_wrong": w_sh,
            "chosen_on_other_folds": chosen,
            "cv_read_rate": pct(r_cv, len(idxs)), "cv_wrong": w_cv,
            "zxing_read_rate": pct(r_zx, len(idxs)), "zxing_wrong": w_zx,
            "union_read_rate": pct(r_un, len(idxs)), "union_wrong": w_un,
        })  # fmt: skip
    r_pub, w_pub = score(table, everyone, shipped)
    chosen_all = select(table, everyone)
    r_all, w_all = score(table, everyone, chosen_all)
    return {
        "k": k,
        "images": len(items),
        "shipped_fallbacks": shipped,
        "public_read_rate": pct(r_pub, len(items)),
        "public_wrong": w_pub,
        "chosen_on_all": chosen_all,
        "chosen_on_all_read_rate": pct(r_all, len(items)),
        "chosen_on_all_wrong": w_all,
        "cv_read_rate": pct(cv_reads, len(items)),
        "cv_wrong": cv_wrong,
        "cv_by_symbology": {sym: pct(read, n) for sym, (n, read) in sorted(by_symbology.items())},
        "zxing_read_rate": pct(base(table.zxing, everyone)[0], len(items)),
        "union_read_rate": pct(base(table.union, everyone)[0], len(items)),
        "per_pass_alone": {
            name: pct(sum(table.cells[i][name][0] for i in everyone), len(items)) for name in table.names
        },
        "folds": per_fold,
    }
