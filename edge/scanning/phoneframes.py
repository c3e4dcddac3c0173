"""Frames from shoppers' phones: the same decoder ensemble, GS1 validation and confirmation as a
kiosk camera, one confirmation state per phone.

The phone's page sends a centre crop of its viewfinder a few times a second. Each phone is a
stream with its own `FrameProcessor` (no motion gate: a hand-held phone always moves) fed in the
page's own time, so frames queued while the Wi-Fi was down confirm exactly as they would have
live. Decoding is bounded by `decode_slots` so fifty phones cannot starve the kiosks' cameras;
a frame that waits too long for a slot is answered 503 `scanner_busy` and the page sends the
next one.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from edge.platform.errors import Unavailable
from edge.platform.images import decode_image
from edge.scanning.confirm import Confirmer, ConfirmRule
from edge.scanning.contract import FrameRead, ReadCode
from edge.scanning.pipeline import FrameProcessor
from edge.scanning.settings import ScanningSettings
from edge.scanning.strategy import Strategy

ROLE = "phone"
RECENT_FRAME_IDS = 64
RELOAD_JUMP_S = 1.0  # the page's clock went back this far: the page was reloaded, start afresh


def busy(message: str = "the scanner is busy; the next frame will be read") -> Unavailable:
    """The 503 a phone frame gets when it cannot be read now; the page sends the next one."""
    return Unavailable(message, code="scanner_busy", details={"retry_after_s": 1})


@dataclass
class _Stream:
    processor: FrameProcessor
    offset: float | None = None  # monotonic time minus the page's clock
    last: float = 0.0
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_FRAME_IDS))
    lock: threading.Lock = field(default_factory=threading.Lock)


class PhoneFrames:
    """Implements scanning.contract.FrameReader."""

    def __init__(self, settings: ScanningSettings, strategy: Strategy, rule: ConfirmRule) -> None:
        self.settings = settings
        self.cfg = settings.phone
        self.strategy = strategy
        self.rule = rule
        self._streams: OrderedDict[str, _Stream] = OrderedDict()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.cfg.decode_slots)

    def _new_stream(self) -> _Stream:
        processor = FrameProcessor(
            ROLE, ROLE, None, self.strategy, None, Confirmer(self.rule),
            live_fallbacks=self.settings.live_fallbacks, fallback_ms_per_s=self.settings.live_fallback_ms_per_s,
        )  # fmt: skip
        return _Stream(processor)

    def _stream(self, stream_id: str) -> _Stream:
        with self._lock:
            stream = self._streams.get(stream_id)
            if stream is None:
                stream = self._streams[stream_id] = self._new_stream()
                while len(self._streams) > self.cfg.streams:
                    self._streams.popitem(last=False)
            else:
                self._streams.move_to_end(stream_id)
            return stream

    def forget(self, stream_id: str) -> None:
        with self._lock:
            self._streams.pop(stream_id, None)

    def read_frame(self, stream_id: str, data: bytes, t_ms: float | None, frame_id: str | None) -> FrameRead:
        stream = self._stream(stream_id)
        if not self._slots.acquire(timeout=self.cfg.slot_wait_s):
            raise busy()
        try:
            with stream.lock:  # one phone's frames in order
                if frame_id is not None and frame_id in stream.recent:
                    return FrameRead((), 0, 0.0, repeated=True)
                gray = decode_image(data, max_bytes=self.cfg.max_bytes, max_pixels=self.cfg.max_pixels, gray=True)
                captured = self._clock(stream, t_ms)
                before = stream.processor.stats.with_codes
                t0 = time.perf_counter()
                events = stream.processor.process(gray, captured)
                ms = (time.perf_counter() - t0) * 1000
                if frame_id is not None:
                    stream.recent.append(frame_id)
                seen = stream.processor.stats.with_codes - before
        finally:
            self._slots.release()
        codes = tuple(ReadCode(e.text, e.symbology, e.gs1) for e in events)
        return FrameRead(codes, seen, round(ms, 2))

    def _clock(self, stream: _Stream, t_ms: float | None) -> float:
        """The frame's capture time on this box's monotonic clock, from the page's clock."""
        now = time.monotonic()
        if t_ms is None:
            captured = now
        else:
            if stream.offset is None:
                stream.offset = now - t_ms / 1000
            captured = t_ms / 1000 + stream.offset
            if captured < stream.last - RELOAD_JUMP_S or captured > now + RELOAD_JUMP_S:
                fresh = self._new_stream()  # a reloaded page (its clock restarted) or a skewed one
                stream.processor, stream.offset = fresh.processor, now - t_ms / 1000
                captured = now
        stream.last = max(stream.last, captured)
        return captured
