"""A kiosk's own face-camera preview, so the shopper can frame their face before paying.

Frames are JPEG-encoded in memory for the kiosk screen only (never stored), and only the
kiosk the camera is bound to can read them.
"""

from __future__ import annotations

import cv2

from edge.cameras.contract import FrameSource
from edge.platform.errors import NotFound, Unavailable

PREVIEW_WIDTH = 480


def face_camera(cameras: FrameSource | None, kiosk_id: str) -> str | None:
    if cameras is None:
        return None
    return cameras.camera_for("face", kiosk_id)


def preview_jpeg(cameras: FrameSource | None, kiosk_id: str) -> bytes:
    camera_id = face_camera(cameras, kiosk_id)
    if camera_id is None:
        raise NotFound("this kiosk has no face camera", code="no_face_camera")
    latest = cameras.latest_frame(camera_id) if cameras is not None else None
    if latest is None:
        raise Unavailable("the face camera has no picture yet", code="no_frame")
    frame = latest[0]
    h, w = frame.shape[:2]
    if w > PREVIEW_WIDTH:
        frame = cv2.resize(frame, (PREVIEW_WIDTH, int(h * PREVIEW_WIDTH / w)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 70])
    if not ok:
        raise Unavailable("the picture could not be encoded", code="encode_failed")
    return bytes(buf.tobytes())
