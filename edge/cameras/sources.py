"""Frame sources: a V4L2 device, an RTSP/HTTP stream, a looped video file, a folder of images.

`open_source` raises `CameraOpenError` (typed, with a code) when a source cannot be opened;
`read()` returns None when no frame came (end of stream, a timeout, an unplugged device). The
capture thread and its watchdog decide what that means; a source never raises from `read()`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edge.platform.errors import Unavailable

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mjpeg", ".mjpg"}
STREAM_TIMEOUT_MS = 3000
# A V4L2 read() waits in select() for a frame that never comes, 10 s by default, and the
# VideoCapture cannot be released from another thread meanwhile. OpenCV reads this once, at the
# first V4L2 read, so set here it bounds every read to the default stall time (an operator's own
# value wins). Streams have the same bound through STREAM_TIMEOUT_MS.
os.environ.setdefault("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", "3")


class CameraOpenError(Unavailable):
    code = "camera_open_failed"


class FrameReader(Protocol):
    kind: str

    def read(self) -> np.ndarray | None:
        """The next BGR frame, paced for files and folders; None when no frame came."""

    def close(self) -> None: ...


def describe(source: str) -> str:
    """The kind of source a config string names: v4l2, stream, folder or file."""
    if re.fullmatch(r"\d{1,2}", source) or source.startswith("/dev/video"):
        return "v4l2"
    if re.match(r"^(rtsp|rtsps|http|https)://", source, re.IGNORECASE):
        return "stream"
    if Path(source).is_dir():
        return "folder"
    return "file"


class _Paced:
    """Releases frames no faster than `fps` (files and folders would otherwise run flat out)."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / max(0.1, fps)
        self._next = time.monotonic()

    def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
            self._next += self.period
        else:
            self._next = now + self.period


class CaptureReader:
    """cv2.VideoCapture for devices and streams; video files are looped and paced."""

    def __init__(self, source: str, kind: str, fps: float) -> None:
        self.kind = kind
        self.source = source
        if kind == "v4l2":
            target: int | str = int(source) if source.isdigit() else source
            cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
        elif kind == "stream":
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                STREAM_TIMEOUT_MS,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                STREAM_TIMEOUT_MS,
            ]
            cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
        else:
            if not Path(source).is_file():
                raise CameraOpenError(f"video file {source!r} does not exist", code="camera_source_missing")
            cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise CameraOpenError(f"cannot open {kind} source")
        self.cap = cap
        file_fps = cap.get(cv2.CAP_PROP_FPS) if kind == "file" else 0.0
        self._pace = _Paced(file_fps if 0 < file_fps <= 120 else fps) if kind == "file" else None
        self.loops = 0  # times a file came to its end and started over

    def restart(self) -> None:
        self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def read(self) -> np.ndarray | None:
        try:
            if self._pace is not None:
                self._pace.wait()
            ok, frame = self.cap.read()
            if not ok and self.kind == "file":  # loop the clip
                self.restart()
                self.loops += 1
                ok, frame = self.cap.read()
            return frame if ok and frame is not None and frame.size else None
        except cv2.error:
            log.debug("capture read failed", exc_info=True)
            return None

    def close(self) -> None:
        with contextlib.suppress(cv2.error):
            self.cap.release()


class FolderReader:
    """A folder of still images played in name order, looped, at the camera's fps."""

    kind = "folder"

    def __init__(self, folder: str, fps: float) -> None:
        path = Path(folder)
        self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else []
        if not self.files:
            raise CameraOpenError(f"folder {folder!r} holds no images", code="camera_source_missing")
        self._i = 0
        self._pace = _Paced(fps)

    def read(self) -> np.ndarray | None:
        self._pace.wait()
        path = self.files[self._i % len(self.files)]
        self._i += 1
        try:
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        except cv2.error:
            return None
        return frame if frame is not None and frame.size else None

    def close(self) -> None:
        self.files = self.files[:1]


class PerSession:
    """A video file played once per kiosk session (the demo's shopper): between plays it shows
    the clip's first frame (an empty tray), so the motion gate skips it and nothing is decoded."""

    def __init__(self, reader: CaptureReader, fps: float, grace_s: float = 5.0) -> None:
        self.reader = reader
        self.kind = reader.kind
        self._hold = reader.read()
        reader.restart()
        self._holding = True
        self._want = False
        self._again = False  # a new session opened while the clip played for the previous one
        self._started = 0.0
        self.grace_s = grace_s
        self._pace = _Paced(fps)

    def replay(self) -> None:
        """Play the clip from the start. While it plays: within `grace_s` of its start the session
        is the one its own first scan opened (nothing to do); later, the last shopper left before
        the clip ended, and it plays again when it ends."""
        if self._holding:
            self._want = True
        elif time.monotonic() - self._started > self.grace_s:
            self._again = True

    def read(self) -> np.ndarray | None:
        if self._want:
            self._want, self._holding = False, False
            self._started = time.monotonic()
            self.reader.restart()
        if self._holding:
            self._pace.wait()
            return self._hold
        loops = self.reader.loops
        frame = self.reader.read()
        if self.reader.loops != loops:  # the end: hold until the next session
            self._holding = True
            self._want, self._again = self._again, False
            return self._hold
        return frame

    def close(self) -> None:
        self.reader.close()


def open_source(source: str, fps: float) -> FrameReader:
    """Opens a camera source; raises CameraOpenError with a code, never a bare exception."""
    kind = describe(source)
    try:
        if kind == "folder":
            return FolderReader(source, fps)
        return CaptureReader(source, kind, fps)
    except CameraOpenError:
        raise
    except Exception as exc:  # OpenCV backends raise odd things on odd devices
        raise CameraOpenError(f"cannot open {kind} source: {type(exc).__name__}") from exc
