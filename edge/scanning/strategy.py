"""The decoder ensemble: one fast pass, fallbacks only where it found nothing, and arbitration
where two different retail codes are read at the same spot.

Order (measured on the shared set, see docs/scanning.md):
1. zxing-cpp restricted to the configured formats, at native resolution (no downscale pass).
2. Only when pass 1 found nothing valid: pyzbar (linear codes), zxing-cpp on a 2x upscale (small
   images only), pyzbar on a contrast-equalised image, pyzbar on a 45-degree turn, zxing-cpp on
   a binarised image, zxing-cpp on a contrast-equalised image, zxing-cpp with the bars stood
   upright (DataBar and Code 128 only: stacked or long codes a few degrees off level), and last
   the scanline reader
   (EAN/UPC too small or soft to binarise, scanline.py), then the same at twice the size (small
   images only), stopping at the first pass that reads something (on a still: something it
   vouches for; live frames are vouched for at confirmation).

Stills run every fallback. Camera frames in motion run the fast pass only; still frames right
after a change (sharp, see motion.py) add `live_fallbacks` fallbacks each, rotating through the
list, so a code that needs a fallback is found within a few frames while one frame never costs
more than a bounded amount.

Arbitration: decoders sometimes return a second, valid-looking EAN next to the real one (a
ghost). When one pass returns two or more different retail codes, each needs a witness: the
other decoder must read it in its own area. Codes without a witness are dropped: a miss costs
a second scan, a wrong code costs a wrong item.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from prometheus_client import Counter

from edge.scanning import decoders as dec
from edge.scanning import scanline
from edge.scanning.budget import DecodeBudget
from edge.scanning.codes import RETAIL, Code, validate
from edge.scanning.decoders import RawRead
from edge.scanning.witness import CONFLICTS, Witness

PASS_ERRORS = Counter("edge_scanning_pass_errors_total", "Decoder passes that raised (contained)", ["name"])
PASSES = Counter("edge_scanning_passes_total", "Decoder passes run", ["name"])

log = logging.getLogger(__name__)
UPSCALE_MAX_SIDE = dec.UPSCALE_MAX_SIDE  # upscaling helps small symbols in small images; a 720p frame is left alone
UPSCALED_PASSES = ("zxing_upscale", "scanline_upscale")  # images up to UPSCALE_MAX_SIDE only
SCANLINE_PASSES = ("scanline", "scanline_upscale")  # the dearest passes: live, within their budget
# Codes read upright by their own pass: long or stacked, so a few degrees off level no row crosses
# one whole (DataBar Stacked rows are a few modules high; a GS1-128 label is many times longer than
# its bars). An EAN/UPC is about as high as it is long, and zbar turned 45 degrees and the scanline
# reader read it tilted: reading every format, this pass lowered the cross-validated read rate
# (docs/scanning.md, *Tilted codes*).
UPRIGHT_SYMBOLOGIES = ("DataBar", "Code128")
UPRIGHT_CANVAS = 1280  # the upright pass turns an image at up to twice the size, to this many px a side
LIVE_SCANLINE_ROWS = 24  # rows the scanline reader reads on a live frame (stills: scanline.ROWS)
SCANLINE_RESERVE_MS = 40.0  # booked by each live scanline call until it ends (a typical call)


@dataclass
class DecodeOutcome:
    codes: list[Code]
    passes: list[str] = field(default_factory=list)
    conflicts: int = 0
    ms: float = 0.0


Pass = tuple[str, Callable[[np.ndarray], list[RawRead]]]


class Strategy:
    """Decodes one grayscale image with the ensemble. Thread-safe (no mutable state)."""

    def __init__(
        self,
        symbologies: Sequence[str] = dec.SYMBOLOGIES,
        *,
        use_zbar: bool = True,
        variable_prefixes: list[str] | None = None,
        weight_prefixes: list[str] | None = None,
        live_scanline_ms_per_s: float = 100.0,
        live_witness_ms_per_s: float = 100.0,
    ) -> None:
        self.symbologies = tuple(s for s in symbologies if s in dec.SYMBOLOGIES)
        self.formats = dec.zxing_formats(self.symbologies)
        self.use_zbar = use_zbar and dec.zbar_available() and any(s in dec.ZBAR_SYMBOLOGIES for s in self.symbologies)
        self.variable_prefixes = variable_prefixes
        self.weight_prefixes = weight_prefixes  # of the variable prefixes, those carrying grams
        self._scanline_budget = DecodeBudget(live_scanline_ms_per_s, reserve_ms=SCANLINE_RESERVE_MS)
        self.witness = Witness(self._zx, self._zb, self._validated, live_witness_ms_per_s, use_zbar=self.use_zbar)
        self.fallbacks: list[Pass] = self._fallbacks()
        # Camera and phone frames run the scanline reader on fewer rows, within a time budget
        # shared by every camera or phone that uses this strategy (it is the dearest pass); with
        # no budget it leaves their rotation, rather than take a frame's turn and run nothing.
        self.live_fallbacks: list[Pass] = [
            (name, self._budgeted(name) if name in SCANLINE_PASSES else run)
            for name, run in self.fallbacks
            if name not in SCANLINE_PASSES or live_scanline_ms_per_s > 0
        ]
        # Frames over UPSCALE_MAX_SIDE (a kiosk's 1280 px) rotate through these: no turn spent
        # on an upscaled pass that would run nothing.
        self._live_large: list[Pass] = [p for p in self.live_fallbacks if p[0] not in UPSCALED_PASSES]

    # ------------------------------------------------------------ passes

    def _zx(self, gray: np.ndarray, scale: float = 1.0) -> list[RawRead]:
        return dec.read_zxing(gray, self.formats, scale=scale)

    def _zb(self, gray: np.ndarray, scale: float = 1.0) -> list[RawRead]:
        return dec.read_zbar(gray, self.symbologies, scale=scale) if self.use_zbar else []

    def _fallbacks(self) -> list[Pass]:
        def zx_up(g: np.ndarray) -> list[RawRead]:
            if max(g.shape[:2]) > UPSCALE_MAX_SIDE:
                return []
            return self._zx(dec.upscale(g, 2.0), scale=2.0)

        def zb_rot(g: np.ndarray) -> list[RawRead]:
            if not self.use_zbar:
                return []
            turned, inverse = dec.rotate(g, 45)
            return [dec.map_box(r, inverse) for r in self._zb(turned)]

        long_rows = dec.zxing_formats(tuple(s for s in self.symbologies if s in UPRIGHT_SYMBOLOGIES))

        def zx_deskewed(g: np.ndarray) -> list[RawRead]:
            """Bars stood upright (dec.bar_angle), at twice the size where the image is small:
            turning resamples, and two-pixel modules lose their edges to it."""
            angle = dec.bar_angle(g)
            if angle is None or abs(angle) < dec.DESKEW_MIN_DEGREES:
                return []
            # twice the size where small; at most UPRIGHT_CANVAS a side (a 1024 px frame at twice
            # the size cost ~48 ms), never smaller than the frame
            turned, inverse = dec.rotate(g, angle, max(1.0, min(2.0, UPRIGHT_CANVAS / max(g.shape[:2]))))
            return [dec.map_box(r, inverse) for r in dec.read_zxing(turned, long_rows)]

        out: list[Pass] = []
        if self.use_zbar:
            out.append(("zbar", self._zb))
        out.append(("zxing_upscale", zx_up))
        if self.use_zbar:
            out.append(("zbar_equalised", lambda g: self._zb(dec.equalise(g))))
            out.append(("zbar_rot45", zb_rot))
        out.append(("zxing_binarised", lambda g: self._zx(dec.binarise(g))))
        out.append(("zxing_equalised", lambda g: self._zx(dec.equalise(g))))
        if long_rows:
            out.append(("zxing_deskewed", zx_deskewed))
        if any(s in scanline.SYMBOLOGIES for s in self.symbologies):
            out.append(("scanline", self._scanline))
            out.append(("scanline_upscale", self._scanline_up))
        return out

    def _scanline(self, gray: np.ndarray, rows: int = scanline.ROWS) -> list[RawRead]:
        """A UPC-A is an EAN-13 with a leading 0: a role decoding EAN-13 gets it, as from zbar."""
        return [
            r
            for r in scanline.read(gray, rows=rows)
            if r.symbology in self.symbologies or (r.symbology == "UPC-A" and "EAN-13" in self.symbologies)
        ]

    def _scanline_up(self, gray: np.ndarray, rows: int = scanline.ROWS) -> list[RawRead]:
        """The reader at twice the size, small images only: where a module is about a pixel,
        neighbouring edges merge into one slope and the code's extent is never found; cubic
        interpolation puts them two pixels apart. Chosen by every fold of the cross-validation
        (docs/scanning.md), like zxing-cpp's upscaled pass before it."""
        if max(gray.shape[:2]) > UPSCALE_MAX_SIDE:
            return []
        reads = self._scanline(dec.upscale(gray, 2.0), rows)
        return [replace(r, box=(r.box[0] // 2, r.box[1] // 2, r.box[2] // 2, r.box[3] // 2)) for r in reads]

    def _budgeted(self, name: str) -> Callable[[np.ndarray], list[RawRead]]:
        """A scanline pass on a live frame: fewer rows, within the time budget its passes share."""
        run = self._scanline_up if name == "scanline_upscale" else self._scanline

        def live(gray: np.ndarray) -> list[RawRead]:
            if not self._scanline_budget.allow(time.monotonic()):  # decode skips it on large frames
                return []
            t0 = time.perf_counter()  # wall time, so a loaded box (slower calls) admits fewer: see budget.py
            try:
                return run(gray, rows=LIVE_SCANLINE_ROWS)
            finally:
                self._scanline_budget.spend((time.perf_counter() - t0) * 1000)

        return live

    # ------------------------------------------------------------ decoding

    def decode(self, image: np.ndarray, *, max_fallbacks: int | None = None, start: int = 0) -> DecodeOutcome:
        """All codes in `image` (BGR or gray). `max_fallbacks` bounds the fallback passes (None: all),
        starting at fallback number `start` (camera threads rotate it frame by frame)."""
        t0 = time.perf_counter()
        gray = dec.to_gray(image)
        outcome = DecodeOutcome(codes=[])
        if gray.size == 0:
            return outcome
        passes: list[Pass] = [("zxing", self._zx)]
        fallbacks = self.fallbacks
        if max_fallbacks is not None:
            fallbacks = self._live_large if max(gray.shape[:2]) > UPSCALE_MAX_SIDE else self.live_fallbacks
        n = len(fallbacks)
        count = n if max_fallbacks is None else min(max_fallbacks, n)
        passes += [fallbacks[(start + i) % n] for i in range(count)] if n else []
        for name, run in passes:
            PASSES.labels(name).inc()
            outcome.passes.append(name)
            try:
                codes = self._validated(run(gray))
                codes, conflicts = self._arbitrate(gray, codes)
            except Exception:  # a pass that breaks on an odd image must not lose the frame
                PASS_ERRORS.labels(name).inc()
                log.debug("decode pass %s failed", name, exc_info=True)
                continue
            outcome.conflicts += conflicts
            if max_fallbacks is None:  # a still: every code vouched for; when all are vetoed,
                codes = [c for c in codes if self.vouch(gray, c)]  # the next pass may read true
            if codes:
                outcome.codes = codes
                break
        outcome.ms = (time.perf_counter() - t0) * 1000
        return outcome

    def vouch(self, gray: np.ndarray, code: Code, *, live: bool = False) -> bool:
        """False when a witness reads a different code where `code` was read (witness.py)."""
        return self.witness.vouch(gray, code, live=live)

    def _validated(self, reads: list[RawRead]) -> list[Code]:
        merged: dict[str, Code] = {}
        for read in reads:
            code = validate(read, self.variable_prefixes, self.weight_prefixes)
            if code is None:
                continue
            if code.key in merged:
                merged[code.key] = _with_decoders(merged[code.key], merged[code.key].decoders | code.decoders)
            else:
                merged[code.key] = code
        return list(merged.values())

    def _arbitrate(self, gray: np.ndarray, codes: list[Code]) -> tuple[list[Code], int]:
        """With two or more different retail codes, keep only those a second decoder confirms."""
        retail = [c for c in codes if c.symbology in RETAIL]
        if len(retail) < 2:
            return codes, 0
        kept: list[Code] = [c for c in codes if c.symbology not in RETAIL]
        for code in retail:
            witnesses = code.decoders if len(code.decoders) > 1 else self._witness(gray, code)
            if len(witnesses) > 1 or witnesses - code.decoders:
                kept.append(_with_decoders(code, code.decoders | witnesses))
                CONFLICTS.labels("confirmed").inc()
            else:
                CONFLICTS.labels("dropped").inc()
        return kept, 1

    def _witness(self, gray: np.ndarray, code: Code) -> frozenset[str]:
        """The decoders other than `code`'s own that read the same code in its area."""
        crop, _origin = dec.around(gray, code.box)
        if crop.size == 0:
            return frozenset()
        if "zbar" not in code.decoders and self.use_zbar:
            reads = self._zb(crop)
        elif "zxing" not in code.decoders:
            reads = self._zx(crop)
        else:  # no second decoder: zxing on a contrast-equalised crop is the next most independent look
            reads = [
                RawRead(r.symbology, r.text, r.raw, "zxing_equalised", r.gs1, r.box)
                for r in self._zx(dec.equalise(crop))
            ]
        found = frozenset(c.key for c in self._validated(reads))
        if code.key not in found:
            return frozenset()
        return frozenset(r.decoder for r in reads)


def _with_decoders(code: Code, decoders: frozenset[str]) -> Code:
    return replace(code, decoders=decoders)
