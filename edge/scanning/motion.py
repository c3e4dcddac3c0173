"""The motion gate: a static scene (an empty kiosk tray, a quiet fitting room) costs almost nothing.

A frame is compared with the last decoded one on a sparse grid of pixels (a strided view, no
resize and no colour conversion of the full frame), so the check stays well under a millisecond
on 720p. After a change the gate stays open for `settle_s`, so a code that is put down and then
held still is decoded once the motion blur is gone; those still, sharp frames are also where
the (costlier) fallback decoders run, never on blurred frames in motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GateSettings:
    stride: int = 8  # sample every 8th pixel in both directions
    pixel_delta: int = 18  # a sample changed when its grey level moved by more than this
    min_changed: float = 0.004  # fraction of samples that must change to open the gate
    settle_s: float = 1.2  # keep decoding this long after the last change


def crop(frame: np.ndarray, roi: tuple[int, int, int, int] | None) -> np.ndarray:
    """The configured region of interest (x, y, width, height), clipped to the frame."""
    if roi is None:
        return frame
    x, y, w, h = roi
    fh, fw = frame.shape[:2]
    x0, y0 = max(0, min(x, fw)), max(0, min(y, fh))
    return frame[y0 : min(fh, y0 + max(0, h)), x0 : min(fw, x0 + max(0, w))]


class MotionGate:
    """Says whether a frame is worth decoding. One per camera; not shared between threads."""

    def __init__(self, settings: GateSettings | None = None) -> None:
        self.s = settings or GateSettings()
        self._ref: np.ndarray | None = None
        self._open_until = 0.0

    def _sample(self, frame: np.ndarray) -> np.ndarray:
        st = self.s.stride
        view = frame[::st, ::st]
        if view.ndim == 3:
            # a cheap luma proxy: the green channel carries most of it
            view = view[:, :, 1] if view.shape[2] >= 3 else view[:, :, 0]
        return view.astype(np.int16)

    def state(self, frame: np.ndarray, now: float) -> str:
        """ "moved" (differs from the last frame), "settling" (still, shortly after a change: the
        sharpest frames, worth the fallbacks) or "static" (nothing to do)."""
        sample = self._sample(frame)
        ref = self._ref
        if ref is None or ref.shape != sample.shape:
            self._ref = sample
            self._open_until = now + self.s.settle_s
            return "moved"
        moved = np.count_nonzero(np.abs(sample - ref) > self.s.pixel_delta)
        if moved >= max(1, int(self.s.min_changed * sample.size)):
            self._ref = sample
            self._open_until = now + self.s.settle_s
            return "moved"
        return "settling" if now < self._open_until else "static"

    def changed(self, frame: np.ndarray, now: float) -> bool:
        """True when the frame is worth decoding (moved or settling)."""
        return self.state(frame, now) != "static"
