"""The cameras service: the capture workers, their watchdog tick, and the FrameSource contract."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from edge.bus import Bus
from edge.cameras.contract import CameraInfo
from edge.cameras.events import CameraStatusEvent
from edge.cameras.settings import CameraSettings
from edge.cameras.sources import describe, open_source
from edge.cameras.worker import CameraWorker, Opener, WatchdogSettings
from edge.platform.errors import NotFound, Unavailable
from edge.platform.worker import Worker

log = logging.getLogger(__name__)


def _watchdog_for(cfg: CameraSettings) -> WatchdogSettings:
    return WatchdogSettings(cfg.stall_after_s, cfg.reconnect_min_s, max(cfg.reconnect_min_s, cfg.reconnect_max_s))


class CameraService:
    """Implements edge.cameras.contract.FrameSource, plus status for the dashboard and /readyz."""

    def __init__(
        self,
        cameras: list[CameraSettings],
        bus: Bus | None = None,
        watchdog: WatchdogSettings | None = None,
        opener: Opener = open_source,
        decode_stats: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        self.bus = bus
        self.configs = {c.id: c for c in cameras}
        self.workers: dict[str, CameraWorker] = {
            c.id: CameraWorker(c, watchdog, opener, on_status=self._status_changed) for c in cameras if c.enabled
        }
        self._tick = Worker("camera-watchdog", self._watch)
        self.decode_stats = decode_stats  # scanning's per-camera figures, shown in the camera list

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        for worker in self.workers.values():
            worker.start()
        self._tick.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Every capture thread is asked to stop first, then each is joined: one deadline for all."""
        deadline = time.monotonic() + timeout
        self._tick.signal_stop()
        for worker in self.workers.values():
            worker.signal_stop()
        for worker in self.workers.values():
            worker.stop(max(0.05, deadline - time.monotonic()))
        self._tick.stop(max(0.05, deadline - time.monotonic()))

    def _watch(self, w: Worker) -> None:
        while not w.sleep(0.5):
            for worker in self.workers.values():
                try:
                    worker.check()
                except Exception:
                    log.exception("camera watchdog tick failed")

    def _status_changed(self, camera_id: str, status: str, reason: str) -> None:
        if self.bus is not None:
            self.bus.publish(CameraStatusEvent(camera_id=camera_id, status=status, reason=reason[:200]))

    # ------------------------------------------------------------ FrameSource

    def replay_for(self, kiosk_id: str) -> None:
        """A kiosk session opened: its per-session clip (the demo's shopper) plays once."""
        for worker in self.workers.values():
            if worker.cfg.role == "kiosk" and worker.cfg.target == kiosk_id and worker.cfg.replay == "per_session":
                worker.replay()

    def cameras(self) -> list[CameraInfo]:
        return [CameraInfo(w.cfg.id, w.cfg.role, w.cfg.target, w.cfg.roi) for w in self.workers.values()]

    def camera_for(self, role: str, target: str | None) -> str | None:
        for cid, worker in self.workers.items():
            if worker.cfg.role == role and (target is None or worker.cfg.target == target):
                return cid
        return None

    def latest_frame(self, camera_id: str) -> tuple[np.ndarray, float] | None:
        worker = self.workers.get(camera_id)
        got = worker.latest() if worker else None
        return None if got is None else (got[0], got[1])

    def wait_frame(self, camera_id: str, after_seq: int, timeout: float) -> tuple[np.ndarray, float, int] | None:
        """The next frame after `after_seq` (scanning waits on this instead of polling)."""
        worker = self.workers.get(camera_id)
        if worker is None:
            time.sleep(timeout)
            return None
        return worker.wait_frame(after_seq, timeout)

    # ------------------------------------------------------------ status

    def snapshot_jpeg(self, camera_id: str, quality: int = 80) -> bytes:
        if camera_id not in self.configs:
            raise NotFound("no such camera", code="camera_not_found")
        got = self.latest_frame(camera_id)
        if got is None:
            raise Unavailable("this camera has no frame yet", code="camera_no_frame")
        if self.configs[camera_id].role == "face":
            # faces are never written anywhere, and a snapshot is a copy: refuse
            raise NotFound("face cameras have no snapshots", code="camera_no_snapshot")
        ok, buf = cv2.imencode(".jpg", got[0], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise Unavailable("could not encode the frame", code="camera_encode_failed")
        return bytes(buf)

    def describe(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        out: list[dict[str, Any]] = []
        for cid, cfg in self.configs.items():
            worker = self.workers.get(cid)
            row: dict[str, Any] = {
                "id": cid,
                "role": cfg.role,
                "target": cfg.target,
                "kind": describe(cfg.source),
                "enabled": cfg.enabled,
                "status": worker.status(now) if worker else "disabled",
                "fps": round(worker.fps, 1) if worker else 0.0,
                "last_frame_age_s": round(now - worker.last_frame_ts, 2) if worker and worker.last_frame_ts else None,
                "stalls": worker.stalls if worker else 0,
                "reconnects": worker.reconnects if worker else 0,
                "error": worker.last_error if worker else "",
                "decode": {},
            }
            if self.decode_stats is not None:
                try:
                    row["decode"] = self.decode_stats(cid)
                except Exception:
                    log.debug("decode stats failed", exc_info=True)
            out.append(row)
        return out

    def health(self) -> tuple[str, str, dict[str, Any]]:
        """(status, reason, details) for /readyz: degraded names the stalled and offline cameras."""
        bad = {cid: w.status() for cid, w in self.workers.items() if w.status() != "online"}
        details = {cid: w.status() for cid, w in self.workers.items()}
        if not self.workers:
            return "ok", "no cameras enabled", details
        if bad:
            names = ", ".join(f"{cid} {st}" for cid, st in sorted(bad.items()))
            return "degraded", f"{len(bad)} of {len(self.workers)} cameras not online: {names}", details
        return "ok", f"{len(self.workers)} cameras online", details
