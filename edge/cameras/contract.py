"""What other domains may ask of the cameras (the registry's `cameras` slot)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class CameraInfo:
    """An enabled camera as other domains see it: what it is for and where it looks."""

    id: str
    role: str  # kiosk | fitting_room | exit_gate | face
    target: str | None  # the kiosk, room or gate it is bound to
    roi: tuple[int, int, int, int] | None = None  # the part of the frame to decode (see CameraSettings.roi)


class FrameSource(Protocol):
    def cameras(self) -> list[CameraInfo]:
        """Every enabled camera."""

    def camera_for(self, role: str, target: str | None) -> str | None:
        """The id of the enabled camera with this role bound to this target (kiosk, room, gate)."""

    def latest_frame(self, camera_id: str) -> tuple[np.ndarray, float] | None:
        """The newest BGR frame and its time.monotonic() capture time; None if there is none yet."""

    def wait_frame(self, camera_id: str, after_seq: int, timeout: float) -> tuple[np.ndarray, float, int] | None:
        """The next frame after `after_seq` (frame, capture time, seq), or None after `timeout`."""
