"""Frames to ScanEvents for one camera: motion gate -> strategy -> confirmation -> the bus.

One thread per scanning camera. Everything a frame can do wrong is contained here: a failing
decode counts and the thread carries on with the next frame.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from prometheus_client import Counter, Histogram

from edge.platform.observability import escape_text
from edge.platform.redact import redact_credential
from edge.platform.worker import Worker
from edge.scanning import decoders as dec
from edge.scanning.budget import DecodeBudget
from edge.scanning.codes import Code
from edge.scanning.confirm import Confirmer
from edge.scanning.events import ScanEvent
from edge.scanning.motion import MotionGate, crop
from edge.scanning.strategy import Strategy

log = logging.getLogger(__name__)

FRAMES = Counter("edge_scanning_frames_total", "Frames seen by scanning", ["camera", "outcome"])
DECODE_SECONDS = Histogram(
    "edge_scanning_decode_seconds", "Decode time per decoded frame", ["camera"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.1, 0.25),
)  # fmt: skip
FRAME_TO_EVENT = Histogram(
    "edge_scanning_frame_to_event_seconds", "Capture of the confirming frame to its ScanEvent", ["camera"],
    buckets=(0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5),
)  # fmt: skip
EVENTS = Counter("edge_scanning_events_total", "ScanEvents published", ["camera", "symbology"])
# The strategy takes the rotation modulo the fallbacks that apply to the frame (fewer on a large
# one), so it wraps at a number every such count (1-10) divides: each pass gets its turn evenly.
ROTATION_WRAP = 5040


class FrameFeed(Protocol):
    def wait_frame(self, camera_id: str, after_seq: int, timeout: float) -> tuple[np.ndarray, float, int] | None: ...


@dataclass
class Stats:
    frames: int = 0
    skipped_static: int = 0
    decoded: int = 0
    with_codes: int = 0
    events: int = 0
    errors: int = 0
    decode_ms: list[float] = field(default_factory=list)  # recent ones
    latency_ms: list[float] = field(default_factory=list)  # recent frame-to-event latencies

    def as_dict(self) -> dict[str, Any]:
        def med(xs: list[float]) -> float | None:
            return round(sorted(xs)[len(xs) // 2], 2) if xs else None

        return {
            "frames": self.frames, "skipped_static": self.skipped_static, "decoded": self.decoded,
            "with_codes": self.with_codes, "events": self.events, "errors": self.errors,
            "decode_ms_median": med(self.decode_ms), "frame_to_event_ms_median": med(self.latency_ms),
        }  # fmt: skip


class FrameProcessor:
    """The per-camera logic without a thread (the benchmark and tests drive it directly)."""

    def __init__(
        self,
        camera_id: str,
        role: str,
        target: str | None,
        strategy: Strategy,
        gate: MotionGate | None,
        confirmer: Confirmer,
        roi: tuple[int, int, int, int] | None = None,
        live_fallbacks: int = 1,
        fallback_ms_per_s: float = 60.0,
    ) -> None:
        self.camera_id, self.role, self.target = camera_id, role, target
        self.strategy, self.gate, self.confirmer = strategy, gate, confirmer
        self.roi = roi
        self.live_fallbacks = live_fallbacks
        self._rotation = 0
        # decode time for fallbacks, on the frames' clock: bounds what a hard scene costs per camera
        self.fallback_budget = DecodeBudget(fallback_ms_per_s)
        self.stats = Stats()

    def process(self, frame: np.ndarray, captured: float, now: float | None = None) -> list[ScanEvent]:
        """Events confirmed by this frame. `captured` is the frame's time.monotonic()."""
        now = captured if now is None else now
        self.stats.frames += 1
        region = crop(frame, self.roi)
        state = self.gate.state(region, now) if self.gate is not None else "settling"
        if state == "static":
            self.stats.skipped_static += 1
            FRAMES.labels(self.camera_id, "static").inc()
            self.confirmer.unchanged(now)
            return []
        fallbacks = self.live_fallbacks if state == "settling" and self.fallback_budget.allow(now) else 0
        t0 = time.perf_counter()
        try:
            outcome = self.strategy.decode(region, max_fallbacks=fallbacks, start=self._rotation)
        except Exception:  # Strategy contains its passes; this is the last line of defence
            self.stats.errors += 1
            FRAMES.labels(self.camera_id, "error").inc()
            log.exception("decode failed on camera %s", self.camera_id)
            return []
        if not outcome.codes and fallbacks and self.strategy.live_fallbacks:
            self._rotation = (self._rotation + fallbacks) % ROTATION_WRAP
        ms = (time.perf_counter() - t0) * 1000
        if len(outcome.passes) > 1:
            self.fallback_budget.spend(ms)
        self.stats.decoded += 1
        self.stats.decode_ms = [*self.stats.decode_ms[-199:], ms]
        DECODE_SECONDS.labels(self.camera_id).observe(ms / 1000)
        FRAMES.labels(self.camera_id, "codes" if outcome.codes else "empty").inc()
        if outcome.codes:
            self.stats.with_codes += 1
        confirmed = self.confirmer.observe(outcome.codes, now)
        if not confirmed:
            return []
        gray = dec.to_gray(region)
        return [self._event(code) for code in confirmed if self.strategy.vouch(gray, code, live=True)]

    def _event(self, code: Code) -> ScanEvent:
        return ScanEvent(
            camera_id=self.camera_id,
            role=self.role,
            target=self.target,
            symbology=code.symbology,
            text=code.text,
            gs1=code.facts,
            decoders=tuple(sorted(code.decoders)),
        )


class ScanWorker:
    """The thread that feeds one camera's frames through its FrameProcessor onto the bus."""

    def __init__(self, processor: FrameProcessor, feed: FrameFeed, publish: Callable[[ScanEvent], None]) -> None:
        self.p = processor
        self.feed = feed
        self.publish = publish
        self.worker = Worker(f"scan-{self.p.camera_id}", self._run)

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 2.0) -> None:
        self.worker.stop(timeout)

    def _run(self, w: Worker) -> None:
        seq = 0
        while not w.stopping:
            try:
                got = self.feed.wait_frame(self.p.camera_id, seq, 0.25)
                if got is None:
                    continue
                frame, captured, seq = got
                for event in self.p.process(frame, captured, time.monotonic()):
                    self.publish(event)
                    latency = (time.monotonic() - captured) * 1000
                    st = self.p.stats
                    st.events += 1
                    st.latency_ms = [*st.latency_ms[-199:], latency]
                    FRAME_TO_EVENT.labels(self.p.camera_id).observe(latency / 1000)
                    EVENTS.labels(self.p.camera_id, event.symbology).inc()
                    log.info(
                        "scan %s %s %s",
                        self.p.camera_id,
                        event.symbology,
                        escape_text(event.gtin or redact_credential(event.text), 120),
                    )
            except Exception:
                self.p.stats.errors += 1
                log.exception("scan loop error on camera %s", self.p.camera_id)
                w.sleep(0.1)
