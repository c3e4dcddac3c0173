"""Prometheus metrics of face-pay (latencies and decisions; never an identity)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.04, 0.06, 0.1, 0.2, 0.5, 1.0, 2.5)

VERIFY_SECONDS = Histogram(
    "edge_facepay_verify_seconds",
    "Face verification compute time per attempt (all frames, no capture wait)",
    buckets=BUCKETS,
)
STAGE_SECONDS = Histogram(
    "edge_facepay_stage_seconds", "Face pipeline time per stage per attempt", ["stage"], buckets=BUCKETS
)
ATTEMPTS = Counter("edge_facepay_attempts_total", "Face verification attempts by decision", ["decision"])
ENROLMENTS = Counter("edge_facepay_enrolments_total", "Face enrolments by outcome", ["outcome"])
TEMPLATES = Gauge("edge_facepay_gallery_templates", "Templates loaded in the in-memory gallery")


def observe_attempt(decision: str, timings_ms: dict[str, float]) -> None:
    ATTEMPTS.labels(decision).inc()
    if "total" in timings_ms:
        VERIFY_SECONDS.observe(timings_ms["total"] / 1000)
    for stage in ("detect", "liveness", "align", "embed", "match"):
        if stage in timings_ms:
            STAGE_SECONDS.labels(stage).observe(timings_ms[stage] / 1000)
