"""Frames from a kiosk's face camera (edge/cameras FrameSource), held only in memory."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import numpy as np

from edge.platform.errors import Conflict, Unprocessable

STALE_S = 2.0


def phone_hash(pepper: bytes, digits: str) -> str:
    """Keyed hash of the last 4 phone digits: enough to narrow candidates, useless if leaked."""
    tail = "".join(ch for ch in digits if ch.isdigit())[-4:]
    return hmac.new(pepper, f"phone4:{tail}".encode(), hashlib.sha256).hexdigest()


def grab_frames(cameras: Any, kiosk_id: str, count: int, window_s: float) -> list[np.ndarray]:
    """Up to `count` distinct recent frames from the kiosk's `face` camera within `window_s`."""
    if cameras is None:
        raise Conflict("no camera service runs on this box; pay another way", code="face_camera_unavailable")
    cam_id = cameras.camera_for("face", kiosk_id)
    if cam_id is None:  # the kiosk's set-up, not a fault of the box: a 409, as for any state that forbids it
        raise Conflict(
            f"kiosk {kiosk_id!r} has no enabled face camera; pay another way", code="face_camera_unavailable"
        )
    frames: list[np.ndarray] = []
    seen: set[float] = set()
    deadline = time.monotonic() + window_s
    step = window_s / max(count, 1) / 2
    while len(frames) < count and time.monotonic() < deadline:
        got = cameras.latest_frame(cam_id)
        if got is not None:
            frame, ts = got
            if ts not in seen and time.monotonic() - ts <= STALE_S:
                seen.add(ts)
                frames.append(frame)
                if len(frames) >= count:
                    break
        time.sleep(step)
    if not frames:
        raise Unprocessable("the face camera gave no fresh frame", code="face_no_frames")
    return frames
