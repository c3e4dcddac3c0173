"""A scanline EAN/UPC reader for labels too small or too soft for a binariser, voting across rows.

Why: when a module is about two pixels wide or less (a small label in a 240-480 px photo, a pack
held far from the camera, a lens slightly out of focus), zxing-cpp and zbar binarise first and
count whole pixels: a one-module bar softened by the lens becomes zero or two pixels and the
digit is lost, although the intensity profile still holds it. This reader never binarises:

1. Along a row, it finds the code's extent: the first bar after a quiet zone and the last bar
   before one, with no gap inside wider than a digit's widest element. Their distance is 95
   modules (EAN-13, UPC-A) or 67 (EAN-8), which gives the module size.
2. Its guards (bars and spaces all one module wide) are matched with models of the print: four
   blurs and eleven ink spreads. They must fit and agree on the spread, which is what tells a
   1 from a 7 and a 2 from an 8. The centre guard, looked for within a module of where the ends
   put it (farther only where it is not there: a label at an angle), lets each half map on its
   own (a label seen at an angle or curved on a can).
3. Each digit's stretch of the profile is compared with every digit pattern as that print
   renders it (the pattern and its known neighbours), at sub-module shifts, by normalised
   correlation, following the digits as the label drifts. The best pattern must win by a
   margin in every digit; parities give the first digit, and the check digit must hold.

One scanline can misread, so a code is only returned when several rows, far enough apart, give
the same code with a valid check digit and no other code comes close. A miss costs a second
scan; a wrong code costs a wrong item.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.scanning.decoders import RawRead
from edge.scanning.scanline_models import (
    CENTRE,
    CONTEXT,
    EAN8,
    EAN13,
    END,
    LEFT,
    PARITY,
    RIGHT,
    SPREAD_OF,
    START,
    Layout,
    S,
)

SYMBOLOGIES = ("EAN-13", "UPC-A", "EAN-8")
SPREAD_SLACK = 1  # digits may pick a spread this many steps from the guards'
MAX_GUARD_DISAGREEMENT = 5  # steps of spread between the guards' own best fits
SHIFTS = np.arange(-2, 3)  # sub-module shifts tried per digit, in samples
WIDE_SHIFTS = np.arange(SHIFTS[0] - 1, SHIFTS[-1] + 2)
MAX_DRIFT = S  # samples a half's digits may drift from a straight line, in all (one module)
# The centre guard is searched within a module of where the ends put it: its pattern (01010)
# recurs two modules on beside digits that start or end with 101, and a guard found there
# shifts a whole half into a wrong but check-digit-valid reading. Only where it is not there
# (a label seen at an angle, or curved, moves it by two modules or more: one end's modules are
# then wider than the other's) is it looked for up to FAR_CENTRE modules away (a local maximum
# of the fit, so 2.75 in effect), at every place it fits well (MIN_FAR_CENTRE_CORRELATION), and
# a code is returned only if every such place reads the same one.
NEAR_CENTRE = S
FAR_CENTRE = 3
CENTRE_SHIFTS = np.arange(-FAR_CENTRE * S, FAR_CENTRE * S + 1)
ROWS = 80  # rows (and columns) read per image, about; a code spans many
MIN_VOTES = 3  # rows that must agree on a code
SURE_VOTES = 8  # rows agreeing, none disagreeing: reading stops
MIN_VOTES_EAN8 = 5  # eight digits with a check digit leave more room for chance
MIN_SPACING_PX = 3  # agreeing rows this far apart count as separate looks
MIN_CORRELATION = 0.6  # a digit whose best model fits worse than this fails the row
MIN_GUARD_CORRELATION = 0.7  # each guard's best model must fit at least this well
# A centre guard found farther away must fit as a clean guard does (of rendered labels at an angle,
# 95% of the far guards that read right fit better than 0.86): where the real guard is washed
# out (glare on a flat label), a weaker look-alike two modules on can read a valid wrong code.
MIN_FAR_CENTRE_CORRELATION = 0.85
MIN_MARGIN = 0.05  # over the next best pattern, in every digit
QUIET_MODULES = 4.0  # light space before the first bar and after the last one
MAX_GAP_MODULES = 4.6  # no element inside a code is wider than 4 modules
MAX_EXTENTS = 4  # candidate codes tried per row and layout


def read(
    gray: np.ndarray,
    *,
    step: int = 0,
    margin: float = MIN_MARGIN,
    rows: int = ROWS,
    turn: bool = True,
    sure: int = SURE_VOTES,
    give_up: int = 0,
) -> list[RawRead]:
    """EAN-13, UPC-A and EAN-8 codes that several rows (or, with `turn`, columns) of `gray`, an
    8-bit grey image, agree on. About `rows` rows are read, visited coarse to fine, and the
    reading stops once `sure` rows agree and none disagrees, so a code that reads easily costs a
    fraction; with `give_up`, also when that many rows (spread over the image) read nothing."""
    if gray.ndim != 2 or min(gray.shape) < 16:
        return []
    for turned in (False, True) if turn else (False,):
        img = gray.T if turned else gray
        smooth = cv2.GaussianBlur(img.astype(np.float32), (0, 0), sigmaX=0.6, sigmaY=1.5)
        votes: dict[str, list[tuple[int, float, float]]] = {}
        width = img.shape[1]
        lines = list(range(2, img.shape[0] - 2, step or max(2, -(-img.shape[0] // rows))))
        for visited, y in enumerate(_coarse_to_fine(lines)):
            if give_up and visited >= give_up and not votes:
                break
            row = smooth[y].astype(np.float64)
            read_here = _decode_row(row, margin)
            for text, x0, x1 in read_here:
                votes.setdefault(text, []).append((y, x0, x1))
            if not read_here:  # a code upside down
                for text, x0, x1 in _decode_row(row[::-1], margin):
                    votes.setdefault(text, []).append((y, width - 1 - x1, width - 1 - x0))
            if len(votes) == 1 and _independent(next(iter(votes.values()))) >= sure:
                break
        found = _elect(votes, turned)
        if found:
            return found
    return []


def _coarse_to_fine(rows: list[int]) -> list[int]:
    """Every 16th row first, then the rows halfway between, and so on."""
    order: list[int] = []
    seen: set[int] = set()
    for stride in (16, 8, 4, 2, 1):
        for i in range(0, len(rows), stride):
            if i not in seen:
                seen.add(i)
                order.append(rows[i])
    return order


def _elect(votes: dict[str, list[tuple[int, float, float]]], turned: bool) -> list[RawRead]:
    """The code enough separate rows read, with no rival at half its count; else nothing."""
    counted = sorted(((_independent(rows), text) for text, rows in votes.items()), reverse=True)
    if not counted:
        return []
    n, best = counted[0]
    runner_up = counted[1][0] if len(counted) > 1 else 0
    if n < (MIN_VOTES_EAN8 if len(best) == 8 else MIN_VOTES) or runner_up * 2 >= n:
        return []
    rows = votes[best]
    ys = [r[0] for r in rows]
    x0, x1 = int(min(r[1] for r in rows)), int(max(r[2] for r in rows)) + 1
    y0, y1 = min(ys), max(ys) + 1
    box = (y0, x0, y1, x1) if turned else (x0, y0, x1, y1)
    symbology = "EAN-8" if len(best) == 8 else "UPC-A" if best.startswith("0") else "EAN-13"
    text = best[1:] if symbology == "UPC-A" else best
    return [RawRead(symbology, text, text.encode(), "scanline", False, box)]


def _independent(rows: list[tuple[int, float, float]]) -> int:
    """Rows at least MIN_SPACING_PX apart (neighbouring rows see nearly the same pixels)."""
    count, last = 0, -(10**9)
    for y, _a, _b in sorted(rows):
        if y - last >= MIN_SPACING_PX:
            count, last = count + 1, y
    return count


def _p99(values: np.ndarray) -> float:
    """np.percentile(values, 99) as numpy computes it (linear), without its generic machinery,
    which took half of every row's edge finding."""
    n = values.size
    at = (n - 1) * 0.99  # numpy's virtual index for the linear method
    lo = int(np.floor(at))
    hi = min(lo + 1, n - 1)
    part = np.partition(values, (lo, hi))
    a, b, t = float(part[lo]), float(part[hi]), at - lo
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def _edges(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge positions (slope extrema, to a fraction of a pixel) and signs (-1: into a bar)."""
    g = np.gradient(profile)
    mag = np.abs(g)
    floor = max(4.0, 0.1 * _p99(mag))
    peak = (mag[1:-1] >= mag[:-2]) & (mag[1:-1] > mag[2:]) & (mag[1:-1] > floor)
    idx = np.nonzero(peak)[0] + 1
    if idx.size < 20:
        return np.empty(0), np.empty(0)
    a, b, c = mag[idx - 1], mag[idx], mag[idx + 1]
    denom = a - 2 * b + c
    safe = np.where(np.abs(denom) > 1e-9, denom, -1.0)
    pos = idx + np.clip(0.5 * (a - c) / safe, -0.5, 0.5)
    return pos, np.sign(g[idx])


def _extents(pos: np.ndarray, sign: np.ndarray, length: int, layout: Layout) -> list[tuple[float, float]]:
    """(first bar's leading edge, last bar's trailing edge) pairs that fit a code of `layout`:
    quiet zones on both sides, no gap inside wider than a code's widest element. Text and 2D
    codes can offer many; the tightest MAX_EXTENTS are kept, which bounds a row's cost."""
    n = pos.size
    gaps = np.diff(np.concatenate(([0.0], pos, [float(length)])))  # gaps[i]: before edge i
    starts = np.nonzero((sign < 0) & (gaps[:-1] > 3))[0]
    ends = np.nonzero((sign > 0) & (gaps[1:] > 3))[0]
    if starts.size == 0 or ends.size == 0:
        return []
    k = np.arange(n)
    inner = np.maximum.accumulate(np.where(k[None, :] > starts[:, None], gaps[None, :n], 0.0), axis=1)
    module = (pos[ends][None, :] - pos[starts][:, None]) / layout.modules  # (starts, ends)
    widest = inner[:, ends]
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (
            (ends[None, :] >= starts[:, None] + 20)
            & (module >= 0.9)
            & (gaps[starts][:, None] >= QUIET_MODULES * module)
            & (gaps[ends + 1][None, :] >= QUIET_MODULES * module)
            & (widest <= MAX_GAP_MODULES * module)
        )
        a, e = np.nonzero(ok)
        if a.size == 0:
            return []
        order = np.argsort(widest[a, e] / module[a, e], kind="stable")[:MAX_EXTENTS]
    return [(float(pos[starts[a[t]]]), float(pos[ends[e[t]]])) for t in order]


def _decode_row(profile: np.ndarray, margin: float) -> list[tuple[str, float, float]]:
    """Every code one row reads, with where it starts and ends."""
    pos, sign = _edges(profile)
    if pos.size == 0:
        return []
    found: list[tuple[str, float, float]] = []
    for layout in (EAN13, EAN8):
        for x0, x1 in _extents(pos, sign, profile.size, layout):
            text = _decode_extent(profile, x0, x1, layout, margin)
            if text:
                found.append((text, x0, x1))
    return found


def _windows(dark: np.ndarray, x0: float, module: float, firsts: np.ndarray, count: float) -> np.ndarray:
    """Zero-mean, unit-norm windows of `count` modules starting at each of `firsts` (modules,
    mapped linearly from x0), S samples a module; shape (len(firsts), count*S)."""
    u = firsts[:, None] + (np.arange(round(count * S))[None, :] + 0.5) / S
    w = np.interp(x0 + u * module, np.arange(dark.size), dark)
    # mean and norm spelt as the ufuncs numpy's own wrappers call: the same numbers, a third of
    # the time (this runs ~25 times for every candidate code a row offers)
    w -= np.add.reduce(w, axis=1, keepdims=True) / w.shape[1]
    norm = np.sqrt(np.add.reduce(w * w, axis=1, keepdims=True))
    return w / np.where(norm > 0, norm, 1.0)


def _decode_extent(profile: np.ndarray, x0: float, x1: float, layout: Layout, margin: float) -> str | None:
    """The code between x0 and x1 (first bar's leading edge, last bar's trailing edge), or None."""
    module = (x1 - x0) / layout.modules
    dark = 255.0 - profile  # darkness: bars high
    # Both end guards first: most candidate extents in text or 2D codes fail here, cheaply.
    start = (_windows(dark, x0, module, -1.0 + SHIFTS / S, 4.5) @ START.T).max(axis=0)
    end = (_windows(dark, x0, module, layout.modules - 3.5 + SHIFTS / S, 4.5) @ END.T).max(axis=0)
    if start.max() < MIN_GUARD_CORRELATION or end.max() < MIN_GUARD_CORRELATION:
        return None
    fit = _windows(dark, x0, module, layout.centre + CENTRE_SHIFTS / S, 5) @ CENTRE.T  # (shifts, prints)
    best = fit.max(axis=1)
    near = np.nonzero(np.abs(CENTRE_SHIFTS) <= NEAR_CENTRE)[0]
    if best[near].max() >= MIN_GUARD_CORRELATION:
        places = [int(near[np.argmax(best[near])])]
    else:  # a label at an angle: the centre guard is not where the end guards' midpoint is
        places = [
            i
            for i in range(1, best.size - 1)
            if best[i] >= MIN_FAR_CENTRE_CORRELATION and best[i - 1] <= best[i] >= best[i + 1]
        ]
    texts = {
        _decode_halves(dark, x0, x1, module, layout, (start, fit[i], end), int(CENTRE_SHIFTS[i]), margin)
        for i in places
    }
    texts.discard(None)
    return texts.pop() if len(texts) == 1 else None


def _decode_halves(
    dark: np.ndarray,
    x0: float,
    x1: float,
    module: float,
    layout: Layout,
    guards: tuple[np.ndarray, np.ndarray, np.ndarray],
    shift: int,
    margin: float,
) -> str | None:
    """Both halves' digits, each mapped between an end guard and the centre guard, found `shift`
    samples from where the ends put it (`guards`: the start, centre and end guards' fit per print)."""
    start, centre, end = guards  # the centre guard's fit was checked where its place was chosen
    centre_x = x0 + (layout.centre + shift / S) * module
    # Each half's print from its two guards. The guards must agree on the ink spread: where they
    # do not, one of them traded a thin bar for a blurred one, and the 1/7 and 2/8 twins would be
    # traded with it. (Measured on rendered labels: reading each guard's spread at one shared
    # blur agrees more often, and let two twin swaps through in 1,176 labels; this let none.)
    spreads = SPREAD_OF[[int(np.argmax(start)), int(np.argmax(centre)), int(np.argmax(end))]]
    if spreads.max() - spreads.min() > MAX_GUARD_DISAGREEMENT:
        return None
    left_print, right_print = int(np.argmax(start + centre)), int(np.argmax(centre + end))
    left = _digits(dark, x0, (centre_x - x0) / layout.centre, layout.left, LEFT, left_print, margin)
    if left is None:
        return None
    right_module = (x1 - centre_x) / (layout.modules - layout.centre)
    right_starts = tuple(m - layout.centre for m in layout.right)
    right = _digits(dark, centre_x, right_module, right_starts, RIGHT, right_print, margin)
    if right is None:
        return None
    if layout is EAN8:
        if any(d >= 10 for d in left):
            return None
        text = "".join(map(str, left + right))
    else:
        parity = "".join("G" if d >= 10 else "L" for d in left)
        if parity not in PARITY:
            return None
        text = str(PARITY.index(parity)) + "".join(str(d % 10) for d in left) + "".join(map(str, right))
    return text if _check_ok(text) else None


def _digits(
    dark: np.ndarray, x0: float, module: float, starts: tuple[int, ...], models: np.ndarray, guess: int, margin: float
) -> list[int] | None:
    """Each digit's best pattern (an index into the digit axis of `models`, shape (prints,
    digits, window)). Digits are followed one after another, each searched around where the one
    before it was found, so a label curved on a can or seen at an angle is tracked as it drifts
    from a straight line. `guess` is the print the guards fitted best: it is used while tracking,
    and the print the digits are read with may differ from it in blur but in spread by at most
    SPREAD_SLACK steps. Every digit must win by `margin` over the next pattern."""
    shift = 0
    found: list[np.ndarray] = []  # per digit: its windows at the chosen shift and its neighbours
    for first in starts:
        # the shifts tried, with one more on each side: the chosen shift's neighbours are kept
        near = shift + WIDE_SHIFTS
        windows = _windows(dark, x0, module, first - CONTEXT + near / S, 7 + 2 * CONTEXT)
        fit = (windows[1:-1] @ models[guess].T).max(axis=1)
        shift = int(np.clip(near[1 + int(np.argmax(fit))], -MAX_DRIFT, MAX_DRIFT))
        at = int(np.searchsorted(near, shift))  # clipping keeps it among the shifts tried
        found.append(windows[at - 1 : at + 2])
    stack = np.array(found)  # (digits, 3 shifts, window)
    allowed = np.nonzero(np.abs(SPREAD_OF - SPREAD_OF[guess]) <= SPREAD_SLACK)[0]
    scores = np.einsum("nwk,pdk->pndw", stack, models[allowed]).max(axis=3)  # (prints, digits, patterns)
    print_i = int(np.argmax(scores.max(axis=2).sum(axis=1)))
    ranked = np.sort(scores[print_i], axis=1)
    if ranked[:, -1].min() < MIN_CORRELATION or (ranked[:, -1] - ranked[:, -2]).min() < margin:
        return None
    return [int(b) for b in scores[print_i].argmax(axis=1)]


def _check_ok(digits: str) -> bool:
    """The GS1 mod-10 check digit (weights 3 and 1 from the right)."""
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check
