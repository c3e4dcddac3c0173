"""The scanline reader's models of the print: where an EAN/UPC's digits sit, and how each guard
and digit looks through a lens (blur) and a press (ink spread), rendered once at import.

Why apart from the reader: these are fixed tables, built once and shared read-only by every
camera thread; the reader (`scanline.py`) only compares rows of an image with them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

S = 4  # samples per module in the model
L_WIDTHS = ("3211", "2221", "2122", "1411", "1132", "1231", "1114", "1312", "1213", "3112")
PARITY = ("LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL")
# The print and the lens, as the models render them: blur (Gaussian, in modules) and ink spread
# (how much wider every bar prints than nominal, in modules; negative: thinner). The spread is
# read from the guards, whose bars and spaces are all one module wide: 1 and 7 (or 2 and 8) are
# the same digit printed one module heavier, so digits alone cannot tell the spread.
SIGMAS = (0.3, 0.5, 0.7, 0.9)
SPREADS = tuple(round(0.15 * k, 2) for k in range(-5, 6))  # -0.75 .. +0.75
# Each digit is compared with half a module of its known neighbours on each side (a left digit
# follows a bar and precedes a space, a right digit the other way round): they anchor the grey
# levels; the module beyond each neighbour is unknown.
CONTEXT = 0.5
_erf = np.vectorize(math.erf)


@dataclass(frozen=True)
class Layout:
    """Where the digits sit, in modules from the first bar's leading edge."""

    modules: int
    centre: int  # first module of the centre guard (01010)
    left: tuple[int, ...]
    right: tuple[int, ...]


EAN13 = Layout(95, 45, tuple(3 + 7 * k for k in range(6)), tuple(50 + 7 * k for k in range(6)))
EAN8 = Layout(67, 31, tuple(3 + 7 * k for k in range(4)), tuple(36 + 7 * k for k in range(4)))


def _bits(widths: str, starts_light: bool) -> str:
    """Element widths ("3211") as modules, 1 for bar: "0001101" for an L-coded 0."""
    out, dark = "", not starts_light
    for w in widths:
        out += ("1" if dark else "0") * int(w)
        dark = not dark
    return out


def _render(bits: str, first: float, count: float, sigma: float, spread: float) -> np.ndarray:
    """Zero-mean, unit-norm darkness of modules first..first+count of `bits`, S samples a
    module, every bar grown by `spread` and blurred by `sigma` (both in modules)."""
    return _unit(_darkness(bits, first, count, sigma, spread))


def _darkness(bits: str, first: float, count: float, sigma: float, spread: float) -> np.ndarray:
    u = first + (np.arange(round(count * S)) + 0.5) / S
    out = np.zeros_like(u)
    k = 0
    while k < len(bits):
        if bits[k] == "1":
            end = k
            while end < len(bits) and bits[end] == "1":
                end += 1
            a, b = k - spread / 2, end + spread / 2
            out += 0.5 * (_erf((u - a) / (sigma * math.sqrt(2))) - _erf((u - b) / (sigma * math.sqrt(2))))
            k = end
        else:
            k += 1
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    v = v - v.mean()
    return v / (np.linalg.norm(v) or 1.0)


def _models(side: str) -> np.ndarray:
    """Models of each digit's window (7 modules and CONTEXT of each neighbour), shape
    (sigmas * spreads, digits, (7 + 2 * CONTEXT) * S): 20 digits on the left (L codes, then G),
    10 on the right. The known neighbour module is rendered; the one beyond it as bar and as
    space, averaged, since it belongs to a digit not read yet (guessing one colour there made
    rendered labels of 1, 2, 7 and 8 misread seven times in 600, against once)."""
    if side == "left":
        codes = [_bits(p, True) for p in L_WIDTHS] + [_bits(p[::-1], True) for p in L_WIDTHS]
        before, after = "1", "0"
    else:
        codes = [_bits(p, False) for p in L_WIDTHS]
        before, after = "0", "1"
    out = []
    for sg in SIGMAS:
        for sp in SPREADS:
            row = []
            for c in codes:
                looks = [
                    _darkness(o1 + before + c + after + o2, 2 - CONTEXT, 7 + 2 * CONTEXT, sg, sp)
                    for o1 in "01"
                    for o2 in "01"
                ]
                row.append(_unit(np.mean(looks, axis=0)))
            out.append(row)
    return np.array(out)


LEFT = _models("left")
RIGHT = _models("right")
# The guards at both ends with a module of quiet zone and half a module of the digit beside them.
START = np.array([_render("000" + "101" + "0", 2, 4.5, sg, sp) for sg in SIGMAS for sp in SPREADS])
END = np.array([_render("0" + "101" + "000", 0.5, 4.5, sg, sp) for sg in SIGMAS for sp in SPREADS])
CENTRE = np.array([_render("11" + "01010" + "11", 2, 5, sg, sp) for sg in SIGMAS for sp in SPREADS])
SPREAD_OF = np.array([i for _sg in SIGMAS for i in range(len(SPREADS))])  # print -> spread index
for _a in (LEFT, RIGHT, START, END, CENTRE, SPREAD_OF):
    _a.setflags(write=False)  # shared by every camera thread, read only
