"""The decoders behind the strategy, each call contained.

zxing-cpp and pyzbar (libzbar) are wrapped so that they return the same `RawRead` and never
raise: pyzbar raises ValueError (ZBarOrientation) on some images and a decoder failure on one
image or pass must not lose the other results or stop a camera thread. Failures are counted.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp
from prometheus_client import Counter

from edge.platform.gs1 import upca_to_upce

log = logging.getLogger(__name__)

DECODER_ERRORS = Counter("edge_scanning_decoder_errors_total", "Decoder calls that raised (contained)", ["decoder"])

# Our symbology names (as in ScanEvent) -> zxing-cpp formats and zbar symbol names.
SYMBOLOGIES = ("EAN-13", "EAN-8", "UPC-A", "UPC-E", "Code128", "QRCode", "DataMatrix", "DataBar")
_ZX_FORMATS = {
    "EAN-13": zxingcpp.BarcodeFormat.EAN13,
    "EAN-8": zxingcpp.BarcodeFormat.EAN8,
    "UPC-A": zxingcpp.BarcodeFormat.UPCA,
    "UPC-E": zxingcpp.BarcodeFormat.UPCE,
    "Code128": zxingcpp.BarcodeFormat.Code128,
    "QRCode": zxingcpp.BarcodeFormat.QRCode,
    "DataMatrix": zxingcpp.BarcodeFormat.DataMatrix,
    # The whole GS1 DataBar family: Omnidirectional, Stacked, Limited, Expanded (and Stacked).
    "DataBar": zxingcpp.BarcodeFormat.DataBar,
}
_ZX_NAMES = {
    "EAN-13": "EAN-13", "EAN-8": "EAN-8", "UPC-A": "UPC-A", "UPC-E": "UPC-E",
    "Code128": "Code128", "Code 128": "Code128", "QR Code": "QRCode", "QRCode": "QRCode",
    "Data Matrix": "DataMatrix",
    "DataMatrix": "DataMatrix",
    "DataBar": "DataBar", "DataBar Omni": "DataBar", "DataBar Stacked": "DataBar", "DataBar Limited": "DataBar",
    "DataBar Expanded": "DataBar", "DataBar Expanded Stacked": "DataBar",
}  # fmt: skip
_ZB_NAMES = {
    "EAN13": "EAN-13",
    "EAN8": "EAN-8",
    "UPCA": "UPC-A",
    "UPCE": "UPC-E",
    "CODE128": "Code128",
    "QRCODE": "QRCode",
}
# zbar cannot read DataMatrix. Its QR charset guessing garbles Shift-JIS text, so zbar is used for
# linear codes only (measured: every zbar-only QR read on the shared set was a wrong text).
ZBAR_SYMBOLOGIES = ("EAN-13", "EAN-8", "UPC-A", "UPC-E", "Code128")


@dataclass(frozen=True)
class RawRead:
    """One decoder result before GS1 validation. `box` is x0, y0, x1, y1 in input pixels."""

    symbology: str
    text: str
    raw: bytes
    decoder: str
    gs1: bool
    box: tuple[int, int, int, int]


def zxing_formats(symbologies: tuple[str, ...] | list[str]) -> list[zxingcpp.BarcodeFormat]:
    return [_ZX_FORMATS[s] for s in symbologies if s in _ZX_FORMATS]


def read_zxing(gray: np.ndarray, formats: list[zxingcpp.BarcodeFormat], *, scale: float = 1.0,
               rotate: bool = True, binarizer: str = "local") -> list[RawRead]:  # fmt: skip
    """zxing-cpp without its own downscale pass (it invented a valid-looking EAN-13 on a 720p
    frame; see shared/data/README.md). `scale` maps boxes back to the caller's pixels."""
    try:
        results = zxingcpp.read_barcodes(
            gray,
            formats=tuple(formats),  # type: ignore[arg-type]
            try_rotate=rotate,
            try_downscale=False,
            try_invert=True,
            text_mode=zxingcpp.TextMode.Plain,
            binarizer=zxingcpp.Binarizer.GlobalHistogram if binarizer == "global" else zxingcpp.Binarizer.LocalAverage,
        )
    except Exception:
        DECODER_ERRORS.labels("zxing").inc()
        log.debug("zxing-cpp raised on a %s image", getattr(gray, "shape", "?"), exc_info=True)
        return []
    out: list[RawRead] = []
    for r in results:
        try:
            name = _ZX_NAMES.get(str(r.format))
            if name is None or not r.valid:
                continue
            p = r.position
            xs = [p.top_left.x, p.top_right.x, p.bottom_right.x, p.bottom_left.x]
            ys = [p.top_left.y, p.top_right.y, p.bottom_right.y, p.bottom_left.y]
            box = (int(min(xs) / scale), int(min(ys) / scale), int(max(xs) / scale), int(max(ys) / scale))
            gs1 = r.content_type == zxingcpp.ContentType.GS1 or r.symbology_identifier in (
                "]C1",
                "]d2",
                "]Q3",
            )
            text = r.text
            if name == "UPC-E" and len(text) in (12, 13):  # zxing-cpp 3 spells UPC-E as its UPC-A
                text = upca_to_upce(text) or ""  # back to what is printed (zbar's form)
                if not text:
                    continue
            raw = text.encode() if name == "UPC-E" else bytes(r.bytes)
            out.append(RawRead(name, text, raw, "zxing", gs1, box))
        except Exception:
            DECODER_ERRORS.labels("zxing").inc()
    return out


@functools.cache
def _zbar() -> tuple[object, dict[str, object]]:
    """Imported lazily: without libzbar0 the daemon still runs on zxing-cpp (and says so)."""
    from pyzbar import pyzbar

    return pyzbar, {ours: getattr(pyzbar.ZBarSymbol, zb) for zb, ours in _ZB_NAMES.items()}


def zbar_available() -> bool:
    try:
        _zbar()
    except Exception:
        return False
    return True


def read_zbar(gray: np.ndarray, symbologies: tuple[str, ...] | list[str], *, scale: float = 1.0) -> list[RawRead]:
    """pyzbar on the linear symbologies asked for; a ValueError (ZBarOrientation) costs only this call."""
    wanted = [s for s in symbologies if s in ZBAR_SYMBOLOGIES]
    if not wanted:
        return []
    try:
        pyzbar, symbols = _zbar()
        results = pyzbar.decode(gray, symbols=[symbols[s] for s in wanted])  # type: ignore[attr-defined]
    except Exception:
        DECODER_ERRORS.labels("zbar").inc()
        log.debug("pyzbar raised on a %s image", getattr(gray, "shape", "?"), exc_info=True)
        return []
    out: list[RawRead] = []
    for r in results:
        name = _ZB_NAMES.get(r.type)
        if name is None:
            continue
        raw = bytes(r.data)
        text = raw.decode("utf-8", errors="replace")
        if name == "UPC-A" and len(text) == 13 and text.startswith("0"):
            text = text[1:]
        elif name == "EAN-13" and len(text) == 13 and text.startswith("0"):
            name, text = "UPC-A", text[1:]
        x, y, w, h = r.rect
        box = (int(x / scale), int(y / scale), int((x + w) / scale), int((y + h) / scale))
        out.append(RawRead(name, text, raw, "zbar", False, box))
    return out


# ---------------------------------------------------------------- image passes for the fallbacks


def upscale(gray: np.ndarray, factor: float = 2.0) -> np.ndarray:
    return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)


def equalise(gray: np.ndarray) -> np.ndarray:
    """Local contrast (CLAHE): glare and shadow on shrink-wrap and shiny packs."""
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray)


def binarise(gray: np.ndarray) -> np.ndarray:
    """Otsu threshold after a light blur: noisy sensor images at low light."""
    blurred = cv2.GaussianBlur(gray, (3, 3), 0)
    return cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def rotate(gray: np.ndarray, degrees: float, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The image turned by `degrees` (and resized by `scale`, cubic) on a white canvas, and the
    inverse affine map (for boxes). zbar scans only rows and columns; a code held at 45 degrees
    is invisible to it otherwise."""
    h, w = gray.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, scale)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    flags = cv2.INTER_LINEAR if scale == 1.0 else cv2.INTER_CUBIC
    out = cv2.warpAffine(gray, m, (nw, nh), flags=flags, borderValue=255)
    return out, cv2.invertAffineTransform(m)


def to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


UPSCALE_MAX_SIDE = 1024  # passes and looks at twice the size: images up to this (looks: half) only
DESKEW_MIN_DEGREES = 2.5  # below this zxing-cpp's own rows cross every bar of a stacked code


def bar_angle(gray: np.ndarray) -> float | None:
    """The turn (degrees, to the nearest axis, for `rotate`) that stands the image's bars upright,
    or None where nothing in it is striped.

    zxing-cpp reads a linear code at an angle along rows that cross it, but a stacked code (GS1
    DataBar Stacked on fresh food) has rows a few modules high: a few degrees off level and no
    row crosses one whole, so it is not read at all. Bars are where edges are strong and
    parallel (a coherent local gradient, unlike print or texture); the angle that most of that
    edge energy shares is the code's."""
    h, w = gray.shape[:2]
    side = max(h, w)
    if min(h, w) < 3 or min(h, w) * 640 < 3 * side:  # a sliver: too thin to hold bars, or to scale
        return None
    small = gray if side <= 640 else cv2.resize(gray, (w * 640 // side, h * 640 // side), interpolation=cv2.INTER_AREA)
    f = small.astype(np.float32)
    gx, gy = cv2.Scharr(f, cv2.CV_32F, 1, 0), cv2.Scharr(f, cv2.CV_32F, 0, 1)  # Scharr: the least axis bias
    # the local structure tensor, averaged over 4 px blocks and then 3 x 3 of them (12 px)
    quarter = (max(1, f.shape[1] // 4), max(1, f.shape[0] // 4))
    jxx, jyy, jxy = (
        cv2.boxFilter(cv2.resize(p, quarter, interpolation=cv2.INTER_AREA), -1, (3, 3)).ravel()
        for p in (gx * gx, gy * gy, gx * gy)
    )
    energy = jxx + jyy
    striped = (jxx - jyy) ** 2 + 4 * jxy**2 > (0.8 * energy) ** 2  # coherence above 0.8
    striped &= energy > 0
    if not striped.any():
        return None
    weight = energy[striped]
    # gradient direction folded to the nearest axis: bars upright or lying are both level
    angle = (0.5 * np.degrees(np.arctan2(2 * jxy[striped], jxx[striped] - jyy[striped])) + 45) % 90 - 45
    hist, _ = np.histogram(angle, bins=90, range=(-45, 45), weights=weight)
    hist = np.convolve(np.r_[hist[-2:], hist, hist[:2]], np.ones(5), "valid")  # circular smoothing
    peak = -45 + int(np.argmax(hist)) + 0.5
    off = (angle - peak + 45) % 90 - 45
    near = np.abs(off) < 3
    return float(peak + np.average(off[near], weights=weight[near])) if weight[near].sum() > 0 else peak


# ---------------------------------------------------------------- boxes


def around(gray: np.ndarray, box: tuple[int, int, int, int], reach: float = 0.5) -> tuple[np.ndarray, tuple[int, int]]:
    """`box` with `reach` times its size (at least 16 px) around it (a half: the whole code
    whichever way it runs), and the crop's origin in `gray`."""
    x0, y0, x1, y1 = box
    pad = max(16, int(reach * max(x1 - x0, y1 - y0)))
    h, w = gray.shape[:2]
    left, top = max(0, x0 - pad), max(0, y0 - pad)
    return gray[top : min(h, y1 + pad), left : min(w, x1 + pad)], (left, top)


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] <= b[2] and a[2] >= b[0] and a[1] <= b[3] and a[3] >= b[1]


def map_box(read: RawRead, inverse: np.ndarray) -> RawRead:
    x0, y0, x1, y1 = read.box
    pts = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], dtype=np.float64) @ inverse.T
    box = (int(pts[:, 0].min()), int(pts[:, 1].min()), int(pts[:, 0].max()), int(pts[:, 1].max()))
    return RawRead(read.symbology, read.text, read.raw, read.decoder, read.gs1, box)


def band(gray: np.ndarray, box: tuple[int, int, int, int], along: int, across: int) -> tuple[np.ndarray, bool]:
    """The crop around a linear read's `box` (a line or a band), `along` px beyond its ends and
    `across` px to either side, and whether the code runs along x."""
    x0, y0, x1, y1 = box
    along_x = (x1 - x0) >= (y1 - y0)
    pad_x, pad_y = (along, across) if along_x else (across, along)
    h, w = gray.shape[:2]
    top, left = max(0, y0 - pad_y), max(0, x0 - pad_x)
    return gray[top : max(top, min(h, y1 + pad_y)), left : max(left, min(w, x1 + pad_x))], along_x
