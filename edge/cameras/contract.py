"""What other domains may ask of the cameras (provided as ctx.require("cameras"))."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class FrameSource(Protocol):
    def camera_for(self, role: str, target: str | None) -> str | None:
        """The id of the enabled camera with this role bound to this target (kiosk, room, gate)."""

    def latest_frame(self, camera_id: str) -> tuple[np.ndarray, float] | None:
        """The newest BGR frame and its time.monotonic() capture time; None if there is none yet."""
