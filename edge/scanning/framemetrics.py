"""The scanning counters of the phone-frame process, mirrored into the daemon's.

The child process (framehost) counts frames, passes, witness outcomes and decode times in its
own prometheus registry; the daemon's /metrics and dashboard read only the daemon's. Before
each scrape the daemon asks the child for its cumulative samples and adds what changed since
the last time to the same metrics of its own. The child's samples are labelled `camera="phone"`
where a label says which stream, so they never mix with the kiosk cameras' samples.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import Counter, Histogram

from edge.scanning import codes, decoders, pipeline, strategy, witness

Key = tuple[str, tuple[tuple[str, str], ...]]  # sample name, labels
METRICS: tuple[Counter | Histogram, ...] = (
    pipeline.FRAMES, pipeline.DECODE_SECONDS, pipeline.FRAME_TO_EVENT, pipeline.EVENTS,
    witness.CONFLICTS, witness.WITNESS, strategy.PASS_ERRORS, strategy.PASSES,
    codes.REFUSED, decoders.DECODER_ERRORS,
)  # fmt: skip
_BY_NAME = {family.name: metric for metric in METRICS for family in metric.describe()}


def snapshot() -> list[tuple[str, str, dict[str, str], float]]:
    """In the child: every counter total, histogram bucket and sum of the mirrored metrics."""
    out: list[tuple[str, str, dict[str, str], float]] = []
    for metric in METRICS:
        for family in metric.collect():
            for s in family.samples:
                if s.name.endswith(("_total", "_bucket", "_sum")):
                    out.append((family.name, s.name, dict(s.labels), s.value))
    return out


class Mirror:
    """In the daemon: adds the child's increments since the last snapshot."""

    def __init__(self) -> None:
        self._last: dict[Key, float] = {}
        self._lock = threading.Lock()  # the dashboard's sampler and a /metrics scrape may overlap

    def reset(self) -> None:
        """A new child counts from zero."""
        with self._lock:
            self._last.clear()

    def apply(self, samples: list[tuple[str, str, dict[str, str], float]]) -> None:
        with self._lock:
            self._apply(samples)

    def _apply(self, samples: list[tuple[str, str, dict[str, str], float]]) -> None:
        buckets: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float]]] = {}
        for family, name, labels, value in samples:
            metric = _BY_NAME.get(family)
            if metric is None:
                continue
            key: Key = (name, tuple(sorted(labels.items())))
            delta = value - self._last.get(key, 0.0)
            self._last[key] = value
            if delta <= 0:
                continue
            if name.endswith("_total") and isinstance(metric, Counter):
                _child(metric, labels).inc(delta)
            elif name.endswith("_sum") and isinstance(metric, Histogram):
                _child(metric, labels)._sum.inc(delta)
            elif name.endswith("_bucket") and isinstance(metric, Histogram):
                le = float(labels.pop("le"))
                buckets.setdefault((family, tuple(sorted(labels.items()))), []).append((le, delta))
        for (family, labels_key), deltas in buckets.items():
            hist = _child(_BY_NAME[family], dict(labels_key))
            _add_buckets(hist, sorted(deltas))

    def __repr__(self) -> str:
        return f"Mirror({len(self._last)} samples)"


def _child(metric: Any, labels: dict[str, str]) -> Any:
    return metric.labels(**labels) if labels else metric


def _add_buckets(hist: Any, cumulative: list[tuple[float, float]]) -> None:
    """Exposition buckets are cumulative; the histogram keeps one count per bucket."""
    bounds = list(hist._upper_bounds)
    below = 0.0
    for le, delta in cumulative:
        if le in bounds:
            hist._buckets[bounds.index(le)].inc(delta - below)
        below = delta
