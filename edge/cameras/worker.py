"""One capture thread per camera, holding only the latest frame, with its watchdog state.

The thread opens the source, reads frames into a one-slot buffer (older frames are simply
replaced: nothing queues without bound), and reconnects with paced exponential backoff when the
source fails to open or stalls. Status is computed from the last-frame timestamp, so a read that
blocks inside a driver still shows as "stalled" on /readyz. The reader is not released from the
watchdog while a read blocks (OpenCV's VideoCapture is not safe to release from another thread
during read()); it is reopened once the read returns (see docs/scanning.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from prometheus_client import Counter, Gauge

from edge.cameras.settings import CameraSettings
from edge.cameras.sources import CameraOpenError, CaptureReader, FrameReader, PerSession, open_source
from edge.platform.observability import escape_text
from edge.platform.worker import Worker

log = logging.getLogger(__name__)

FRAMES = Counter("edge_cameras_frames_total", "Frames captured", ["camera"])
STALLS = Counter("edge_cameras_stalls_total", "Times a camera stopped delivering frames", ["camera"])
RECONNECTS = Counter("edge_cameras_reconnects_total", "Reconnect attempts", ["camera"])
ONLINE = Gauge("edge_cameras_online", "1 when the camera delivers frames", ["camera"])
STATUS = Gauge(
    "edge_cameras_status", "1 for the camera's current status, 0 for the others (one-hot)", ["camera", "status"]
)
FPS = Gauge("edge_cameras_fps", "Measured capture frames per second (0 while not online)", ["camera"])
STATUSES = ("online", "stalled", "offline")


@dataclass(frozen=True)
class WatchdogSettings:
    stall_after_s: float = 3.0  # no frame for this long: stalled, reopen
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0


Opener = Callable[[str, float], FrameReader]


class CameraWorker:
    """Capture thread + watchdog for one camera."""

    def __init__(
        self,
        cfg: CameraSettings,
        watchdog: WatchdogSettings | None = None,
        opener: Opener = open_source,
        on_status: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.wd = watchdog or WatchdogSettings()
        self._open = opener
        self._on_status = on_status
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._frame_ts = 0.0
        self._seq = 0
        self.worker = Worker(f"camera-{cfg.id}", self._run)
        self.last_frame_ts: float | None = None
        self.opened = False
        self.stalls = 0
        self.reconnects = 0
        self.open_failures = 0
        self.next_attempt_in = 0.0
        self.backoffs: list[float] = []  # the delays actually waited (recent ones), for the dashboard and tests
        self.last_error = ""
        self.fps = 0.0
        self._status = "offline"
        self._per_session: PerSession | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._set_status_metrics(self._status)  # every camera has its series from the start, opened or not
        FPS.labels(self.cfg.id).set(0)
        self.worker.start()

    def signal_stop(self) -> None:
        """Ask the capture thread to end and wake any reader waiting for a frame (no join)."""
        self.worker.signal_stop()
        with self._cond:
            self._cond.notify_all()

    def stop(self, timeout: float = 2.0) -> None:
        self.signal_stop()
        self.worker.stop(timeout)

    def replay(self) -> None:
        """A per-session clip plays again (a kiosk session opened at its target)."""
        if self._per_session is not None:
            self._per_session.replay()

    @property
    def alive(self) -> bool:
        return self.worker.alive

    # ------------------------------------------------------------ frames

    def latest(self) -> tuple[np.ndarray, float, int] | None:
        with self._cond:
            if self._frame is None:
                return None
            return self._frame, self._frame_ts, self._seq

    def wait_frame(self, after_seq: int, timeout: float) -> tuple[np.ndarray, float, int] | None:
        """Blocks until a frame newer than `after_seq` arrives (or timeout / stop)."""
        with self._cond:
            if self._seq <= after_seq and not self.worker.stopping:
                self._cond.wait(timeout)
            if self._frame is None or self._seq <= after_seq:
                return None
            return self._frame, self._frame_ts, self._seq

    # ------------------------------------------------------------ status

    def status(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        if self.last_frame_ts is not None and now - self.last_frame_ts <= self.wd.stall_after_s:
            return "online"
        if self.last_frame_ts is not None or self.opened:
            return "stalled"
        return "offline"

    def check(self, now: float | None = None) -> str:
        """Watchdog tick: publishes a status change once."""
        status = self.status(now)
        if status != "online" and self.fps:
            self._reset_fps()  # no frames: a stale figure from before the stall would mislead
        if status != self._status:
            old, self._status = self._status, status
            self._set_status_metrics(status)
            log.info("camera %s: %s -> %s %s", self.cfg.id, old, status, escape_text(self.last_error, 200))
            if self._on_status is not None:
                self._on_status(self.cfg.id, status, self.last_error if status != "online" else "")
        return status

    def _set_status_metrics(self, status: str) -> None:
        ONLINE.labels(self.cfg.id).set(1 if status == "online" else 0)
        for name in STATUSES:
            STATUS.labels(self.cfg.id, name).set(1 if name == status else 0)

    def _reset_fps(self) -> None:
        self.fps = 0.0
        FPS.labels(self.cfg.id).set(0)

    # ------------------------------------------------------------ the thread

    def _sleep_backoff(self, attempt: int) -> None:
        delay = min(self.wd.backoff_max_s, self.wd.backoff_min_s * (2 ** max(0, attempt - 1)))
        self.next_attempt_in = delay
        self.backoffs = [*self.backoffs[-19:], delay]
        self.worker.sleep(delay)

    def _run(self, w: Worker) -> None:
        attempt = 0
        while not w.stopping:
            reader: FrameReader | None = None
            try:
                if attempt:
                    self.reconnects += 1
                    RECONNECTS.labels(self.cfg.id).inc()
                reader = self._open(self.cfg.source, self.cfg.fps)
                if self.cfg.replay == "per_session" and isinstance(reader, CaptureReader) and reader.kind == "file":
                    reader = self._per_session = PerSession(reader, self.cfg.fps)
                self.opened = True
                self.last_error = ""
                if self._pump(reader):
                    attempt = 0  # it delivered frames before failing: start the backoff over
            except CameraOpenError as exc:
                self.open_failures += 1
                self.last_error = exc.message
            except Exception as exc:  # never let one camera take the thread (or the daemon) down
                self.last_error = f"{type(exc).__name__}"
                log.exception("camera %s capture failed", self.cfg.id)
            finally:
                if reader is not None:
                    try:
                        reader.close()
                    except Exception:
                        log.debug("close failed", exc_info=True)
            if w.stopping:
                break
            attempt += 1
            self._sleep_backoff(attempt)

    def _pump(self, reader: FrameReader) -> bool:
        """Reads until the source stalls or we stop; True when at least one frame came."""
        got_any = False
        last_ok = time.monotonic()
        window_start, window_frames = last_ok, 0
        while not self.worker.stopping:
            frame = reader.read()
            now = time.monotonic()
            if frame is None:
                if now - last_ok > self.wd.stall_after_s:
                    self.stalls += 1
                    STALLS.labels(self.cfg.id).inc()
                    self.last_error = "no frame for %.1f s" % (now - last_ok)
                    self._reset_fps()
                    return got_any
                self.worker.sleep(0.02)
                continue
            frame.flags.writeable = False  # shared with readers: nobody may draw on it
            with self._cond:
                self._frame, self._frame_ts = frame, now
                self._seq += 1
                self._cond.notify_all()
            got_any = True
            last_ok = self.last_frame_ts = now
            FRAMES.labels(self.cfg.id).inc()
            window_frames += 1
            if now - window_start >= 1.0:
                self.fps = window_frames / (now - window_start)
                FPS.labels(self.cfg.id).set(self.fps)
                window_start, window_frames = now, 0
        return got_any
