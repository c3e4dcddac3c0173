"""Small figures helpers the benchmarks share: one percentile rule, one timer, one printer."""

from __future__ import annotations

import statistics
import time
from typing import Any


def pct(xs: list[float], q: float, digits: int = 2) -> float | None:
    """The q-quantile (0..1) of xs, nearest rank; None without samples, never NaN (strict JSON)."""
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))], digits) if xs else None


def fmt(value: object) -> str:
    """A figure for a table: "-" when there is none."""
    return "-" if value is None else str(value)


def timed(fn: Any, repeat: int) -> float:
    """Median ms of `repeat` calls after one warm-up call."""
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(out), 2)
