"""A second, independent look at an EAN/UPC before it counts (stills: every code; cameras and
phones: each code about to be confirmed, within a time budget).

Two binarising decoders can agree on a misread with a valid check digit, and a row that crosses
a short, tilted label from its top edge to its bottom one sees no quiet zone, so zxing-cpp can
read a stretch of an EAN-13 as another valid code. A miss costs a second scan, a wrong code a
wrong item: a look that reads a *different* code where this one was read vetoes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from prometheus_client import Counter

from edge.scanning import decoders as dec
from edge.scanning import scanline
from edge.scanning.budget import DecodeBudget
from edge.scanning.codes import Code
from edge.scanning.decoders import RawRead, around, map_box, overlap

CONFLICTS = Counter("edge_scanning_conflicts_total", "Overlapping different retail reads", ["outcome"])
WITNESS = Counter(
    "edge_scanning_witness_total",
    "EAN/UPC codes about to be confirmed on camera or phone frames that a second reader vouched for"
    " (the scanline reader; for UPC-E, zbar and zxing-cpp at twice the size; tilted, both with the"
    " bars stood upright), by outcome",
    ["outcome"],
)
WITNESS_ROWS = 40  # rows the scanline reader reads around a code it is asked to vouch for
WITNESS_GIVE_UP = 16  # ... unless the first 16 of them, spread over the crop, read nothing at all
WITNESS_RESERVE_MS = 10.0  # booked by each live witness until it ends (a phone-page crop)
LONG_CODES = ("EAN-13", "UPC-A")  # what a shorter code read off a tilted label may be a stretch of

Read = Callable[..., list[RawRead]]  # a decoder: (gray, scale=1.0)
Look = Callable[[np.ndarray, Code], list[RawRead]]
log = logging.getLogger(__name__)


class Witness:
    """Vouches for EAN/UPC codes with looks that do not share the reading decoder's failure."""

    def __init__(
        self,
        zx: Read,
        zb: Read,
        validated: Callable[[list[RawRead]], list[Code]],
        live_ms_per_s: float,
        *,
        use_zbar: bool = True,
    ) -> None:
        self._zx, self._zb, self._validated = zx, zb, validated
        self._use_zbar = use_zbar
        self._long = dec.zxing_formats(LONG_CODES)
        self._budget = DecodeBudget(live_ms_per_s, reserve_ms=WITNESS_RESERVE_MS)

    def vouch(self, gray: np.ndarray, code: Code, *, live: bool = False) -> bool:
        """False when a look reads a different code where `code` was read. Cameras and phones
        (`live`) ask within the budget (`live_witness_ms_per_s`): fifty phones witnessing every
        code put the frame p95 at ~950 ms (docs/benchmarks-staff-phone.md), so past it a code
        stands unwitnessed and is counted."""
        looks = self._looks(code)
        if not looks:
            return True
        if live and not self._budget.allow(time.monotonic()):
            WITNESS.labels("skipped").inc()
            return True
        t0 = time.perf_counter()
        outcome = "silent"
        try:
            for look in looks:
                try:
                    seen = {c.key for c in self._validated(look(gray, code))}
                except Exception:  # a look that breaks on an odd image is no witness, never a lost frame
                    WITNESS.labels("error").inc()
                    log.debug("witness look %s failed", getattr(look, "__name__", look), exc_info=True)
                    continue
                if seen and code.key not in seen:
                    outcome = "vetoed"
                    break
                outcome = "agreed" if seen else outcome
        finally:
            if live:
                self._budget.spend((time.perf_counter() - t0) * 1000)
        if live:
            WITNESS.labels(outcome).inc()
        if outcome == "vetoed":
            CONFLICTS.labels("vetoed").inc()
            return False
        return True

    def _looks(self, code: Code) -> list[Look]:
        """Tilted EAN/UPC: the upright look first. Then the scanline reader, which shares nothing
        with the binarising decoders; a UPC-E (which it cannot read) read by one decoder gets
        zbar and zxing-cpp at twice the size instead: six digits whose check digit is carried by
        parity leave little room, and zxing-cpp read another valid UPC-E at native size where
        its upscaled look read the printed one (`zxing_upce-2_14`)."""
        upright = [self.upright] if self._others(code) else []
        if code.symbology == "UPC-E":
            return [] if len(code.decoders) > 1 else [*upright, self.second_look]
        if code.symbology not in scanline.SYMBOLOGIES or "scanline" in code.decoders:
            return []
        return [*upright, self.scanline_look]

    def _others(self, code: Code) -> list[Read]:
        """The binarising decoders that did not read `code`, restricted to EAN-13 / UPC-A."""
        out: list[Read] = []
        if self._use_zbar and "zbar" not in code.decoders:
            out.append(lambda g: dec.read_zbar(g, LONG_CODES))
        if "zxing" not in code.decoders:
            out.append(lambda g: dec.read_zxing(g, self._long))
        return out

    def scanline_look(self, gray: np.ndarray, code: Code) -> list[RawRead]:
        # zxing-cpp boxes a linear code by the line it read: the bars run about half the code's
        # length to either side of it, across; the crop is turned so that they stand upright.
        length = _length(code.box)
        crop, along_x = dec.band(gray, code.box, max(32, length // 4), max(16, length // 2))
        if not along_x:
            crop = np.ascontiguousarray(crop.T)
        if not crop.size:
            return []
        return scanline.read(crop, rows=WITNESS_ROWS, turn=False, sure=scanline.MIN_VOTES, give_up=WITNESS_GIVE_UP)

    def second_look(self, gray: np.ndarray, code: Code) -> list[RawRead]:
        """UPC-E reads of `code`'s area by the looks that did not read it (zbar, upscaled
        zxing-cpp), where they overlap it: a QR or another pack beside it is no witness."""
        crop, (ox, oy) = around(gray, code.box)
        if not crop.size:
            return []
        reads = [] if "zbar" in code.decoders else self._zb(crop)
        if max(crop.shape) <= dec.UPSCALE_MAX_SIDE // 2:
            reads += self._zx(dec.upscale(crop, 2.0), scale=2.0)
        moved = [replace(r, box=(r.box[0] + ox, r.box[1] + oy, r.box[2] + ox, r.box[3] + oy)) for r in reads]
        return [r for r in moved if r.symbology == "UPC-E" and overlap(r.box, code.box)]

    def upright(self, gray: np.ndarray, code: Code) -> list[RawRead]:
        """Where the bars are tilted: EAN-13 / UPC-A reads, by the decoders that did not read
        `code` (one that misread it may misread it again), with the bars stood upright (every row
        then crosses the whole code, quiet zones and all), whose bars reach `code`'s box. The
        crop reaches a code's length around it: a UPC-E is 51 modules, an EAN-13 95, so the code
        it may be a stretch of reaches that much farther."""
        others = self._others(code)
        if not others:
            return []
        angle = dec.bar_angle(_bars(gray, code.box))  # the code's own bars give the angle
        if angle is None or abs(angle) < dec.DESKEW_MIN_DEGREES:
            return []
        wide, (wx, wy) = around(gray, code.box, reach=1.0)
        side = max(wide.shape[:2])
        scale = 2.0 if side <= dec.UPSCALE_MAX_SIDE // 2 else min(1.0, dec.UPSCALE_MAX_SIDE / side)
        turned, inverse = dec.rotate(wide, angle, scale)
        out: list[RawRead] = []
        for read in (r for other in others for r in other(turned)):
            bx0, by0, bx1, by1 = read.box  # the line read, widened across by the bars' height
            if bx1 - bx0 >= by1 - by0:
                reach = max(16, (bx1 - bx0) // 3)
                by0, by1 = by0 - reach, by1 + reach
            else:  # folded to the nearest axis, a code may stand on end once turned
                reach = max(16, (by1 - by0) // 3)
                bx0, bx1 = bx0 - reach, bx1 + reach
            mx0, my0, mx1, my1 = map_box(replace(read, box=(bx0, by0, bx1, by1)), inverse).box
            box = (mx0 + wx, my0 + wy, mx1 + wx, my1 + wy)
            if overlap(box, code.box):
                out.append(replace(read, box=box))
        return out


def _bars(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The band of bars around a read's line: a sixth of the code's length to either side,
    across (a level look at a level code costs well under a millisecond)."""
    return dec.band(gray, box, 8, max(8, _length(box) // 6))[0]


def _length(box: tuple[int, int, int, int]) -> int:
    return max(box[2] - box[0], box[3] - box[1])
