"""A short in-daemon ring of metric samples, so the dashboard can chart without a Prometheus server.

Every few seconds the sampler reads the process's own Prometheus registry and turns it into flat
series: gauges as their value, counters as a per-second rate, histograms as a per-second rate and
the mean of the observations made during the interval. Labels are summed (rates, gauges) so one
family is one series, plus one series per label set for families the dashboard breaks down
(per camera). No FastAPI here: the router only reads `snapshot()`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import Metric

PREFIXES = ("edge_", "process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds")
PER_LABEL = ("camera", "camera_id")  # label names worth a series of their own


@dataclass
class _Raw:
    """Cumulative values of one sample: counters, histogram sums/counts and gauges."""

    t: float
    counters: dict[str, float] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    hist_sum: dict[str, float] = field(default_factory=dict)
    hist_count: dict[str, float] = field(default_factory=dict)


def _keys(name: str, labels: dict[str, str]) -> list[str]:
    keys = [name]
    for label in PER_LABEL:
        if label in labels:
            keys.append(f"{name}{{{labels[label]}}}")
    return keys


def _add(target: dict[str, float], keys: Iterable[str], value: float) -> None:
    if math.isnan(value):
        return
    for key in keys:
        target[key] = target.get(key, 0.0) + value


def read_registry(registry: CollectorRegistry, now: float) -> _Raw:
    raw = _Raw(t=now)
    metric: Metric
    for metric in registry.collect():
        if not metric.name.startswith(PREFIXES):
            continue
        for s in metric.samples:
            keys = _keys(metric.name, s.labels)
            if metric.type == "counter" and s.name.endswith("_total"):
                _add(raw.counters, keys, s.value)
            elif metric.type == "gauge":
                _add(raw.gauges, keys, s.value)
            elif metric.type in ("histogram", "summary"):
                if s.name.endswith("_sum"):
                    _add(raw.hist_sum, keys, s.value)
                elif s.name.endswith("_count"):
                    _add(raw.hist_count, keys, s.value)
            elif metric.type == "counter" and metric.name.startswith("process_"):
                _add(raw.counters, keys, s.value)
    return raw


def derive(prev: _Raw, cur: _Raw) -> dict[str, float]:
    """Flat series of one interval: `name` (gauge), `name:rate` (/s), `name:mean` (histogram mean)."""
    dt = max(cur.t - prev.t, 1e-6)
    out: dict[str, float] = dict(cur.gauges)
    for key, value in cur.counters.items():
        out[f"{key}:rate"] = max(0.0, value - prev.counters.get(key, 0.0)) / dt
    for key, count in cur.hist_count.items():
        dn = count - prev.hist_count.get(key, 0.0)
        out[f"{key}:rate"] = max(0.0, dn) / dt
        if dn > 0:
            out[f"{key}:mean"] = (cur.hist_sum.get(key, 0.0) - prev.hist_sum.get(key, 0.0)) / dn
    return out


class MetricsRing:
    """The last `size` derived samples; thread-safe, fixed memory."""

    def __init__(self, interval_s: float = 2.0, size: int = 900, registry: CollectorRegistry = REGISTRY) -> None:
        self.interval_s = interval_s
        self.registry = registry
        self._samples: deque[tuple[float, dict[str, float]]] = deque(maxlen=size)
        self._prev: _Raw | None = None
        self._lock = threading.Lock()
        self.seq = 0

    def sample(self, wall: float | None = None) -> None:
        """Take one sample now (the first call only primes the counters)."""
        cur = read_registry(self.registry, time.monotonic())
        prev, self._prev = self._prev, cur
        if prev is None:
            return
        values = derive(prev, cur)
        with self._lock:
            self._samples.append((wall if wall is not None else time.time(), values))
            self.seq += 1

    def snapshot(self, names: list[str] | None = None, since: float | None = None) -> dict[str, Any]:
        """Columnar history: {"t": [unix s], "series": {name: [value|None]}} for charts."""
        with self._lock:
            rows = [r for r in self._samples if since is None or r[0] > since]
        wanted = set(names) if names else None
        all_names = sorted({n for _, vals in rows for n in vals if wanted is None or n in wanted})
        return {
            "interval_s": self.interval_s,
            "t": [round(t, 3) for t, _ in rows],
            "series": {n: [_num(vals.get(n)) for _, vals in rows] for n in all_names},
        }

    def latest(self) -> tuple[float, dict[str, float]] | None:
        with self._lock:
            return self._samples[-1] if self._samples else None


def _num(value: float | None) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return round(value, 6)
