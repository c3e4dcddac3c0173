"""Capture threads and their watchdog: sources that never open, stall, or misbehave.

Real sources are used where they exist here (missing files and devices, a folder of images,
a looped video file). A camera that stops delivering frames cannot be unplugged in CI, so
`UnpluggedCamera` simulates one: it delivers frames, then none, until it is reopened.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from prometheus_client import REGISTRY

from edge.bus import Bus
from edge.cameras.events import CameraStatusEvent
from edge.cameras.service import CameraService
from edge.cameras.settings import CameraSettings
from edge.cameras.sources import CameraOpenError, describe, open_source
from edge.cameras.worker import CameraWorker, WatchdogSettings
from tests.support.waits import wait_for

FAST = WatchdogSettings(stall_after_s=0.3, backoff_min_s=0.05, backoff_max_s=0.4)


def cam(source: str, cid: str = "c1", role: str = "kiosk", fps: float = 30) -> CameraSettings:
    return CameraSettings(id=cid, source=source, role=role, target="k1", fps=fps)


def status_series(camera: str) -> dict[str, float | None]:
    """The camera's one-hot edge_cameras_status series as /metrics shows them."""
    return {s: REGISTRY.get_sample_value("edge_cameras_status", {"camera": camera, "status": s}) for s in
            ("online", "stalled", "offline")}  # fmt: skip


class UnpluggedCamera:
    """Simulator of a USB camera that is unplugged after `frames` frames (read() then gives None)."""

    kind = "v4l2"
    opens = 0

    def __init__(self, frames: int = 5) -> None:
        type(self).opens += 1
        self.left = frames

    def read(self) -> np.ndarray | None:
        time.sleep(0.01)  # simulated: the device delivers a frame every 10 ms
        if self.left <= 0:
            return None
        self.left -= 1
        return np.full((48, 64, 3), 100, np.uint8)

    def close(self) -> None:
        pass


def test_source_kinds() -> None:
    assert describe("0") == describe("/dev/video2") == "v4l2"
    assert describe("rtsp://cam.local/stream") == describe("HTTP://x/y.mjpg") == "stream"
    assert describe("/tmp") == "folder"
    assert describe("clip.mp4") == "file"


@pytest.mark.parametrize("source", ["/nonexistent/clip.avi", "/dev/video97", "rtsp://127.0.0.1:9/none"])
def test_sources_that_cannot_open_raise_a_typed_error(source: str) -> None:
    with pytest.raises(CameraOpenError) as err:
        open_source(source, 15)
    assert err.value.code in ("camera_open_failed", "camera_source_missing")


def test_a_camera_that_never_opens_retries_with_backoff_and_stops_fast() -> None:
    bus = Bus()
    events: list[CameraStatusEvent] = []
    bus.subscribe(CameraStatusEvent, events.append)
    svc = CameraService(
        [cam("/nonexistent/clip.avi", "gone"), cam("/dev/video97", "unplugged")], bus=bus, watchdog=FAST
    )
    svc.start()
    try:
        # the series exist from the start, before any watchdog tick, for cameras that never open
        for cid in ("gone", "unplugged"):
            assert status_series(cid) == {"online": 0.0, "stalled": 0.0, "offline": 1.0}
            assert REGISTRY.get_sample_value("edge_cameras_online", {"camera": cid}) == 0.0
        workers = svc.workers
        wait_for(lambda: {c: w.reconnects for c, w in workers.items()}, 10, "four reconnects of each camera",
                 until=lambda n: all(r >= 4 for r in n.values()))  # fmt: skip
        for w in workers.values():
            assert w.alive and w.status() == "offline"
            # paced exponential backoff: doubling from the minimum, capped at the maximum
            assert w.backoffs[:4] == [0.05, 0.1, 0.2, 0.4]
            assert all(b <= 0.4 for b in w.backoffs)
        status, reason, _ = svc.health()
        assert status == "degraded" and "gone offline" in reason and "unplugged offline" in reason
        assert svc.latest_frame("gone") is None
    finally:
        t0 = time.monotonic()
        svc.stop(2.0)
    assert time.monotonic() - t0 < 2.5
    assert not any(w.alive for w in svc.workers.values())


def test_a_stalled_camera_is_reported_and_reconnected_with_growing_backoff() -> None:
    bus = Bus()
    events: list[tuple[str, str]] = []
    bus.subscribe(CameraStatusEvent, lambda e: events.append((e.camera_id, e.status)))
    UnpluggedCamera.opens = 0
    # Frames for ~1.5 s (longer than the 0.5 s watchdog tick and the 1 s fps window, so "online"
    # and a frame rate are seen), then the device is gone for good: every reopen yields nothing.
    svc = CameraService(
        [cam("0", "usb")],
        bus=bus,
        watchdog=FAST,
        opener=lambda s, f: UnpluggedCamera(frames=150 if UnpluggedCamera.opens == 0 else 0),
    )
    worker = svc.workers["usb"]
    svc.start()
    try:
        wait_for(lambda: worker.fps > 0 and status_series("usb")["online"] == 1.0, 10, "usb online with a frame rate")
        assert REGISTRY.get_sample_value("edge_cameras_online", {"camera": "usb"}) == 1.0
        wait_for(lambda: (worker.stalls, worker.reconnects), 15, "four stalls and four reconnects",
                 until=lambda sr: min(sr) >= 4)  # fmt: skip
        assert UnpluggedCamera.opens >= 5
        # the first stall came after frames (the backoff starts over), each later one doubles it
        assert worker.backoffs[:4] == [0.05, 0.1, 0.2, 0.4]
        wait_for(lambda: events, 10, "a stalled event on the bus", until=lambda ev: ("usb", "stalled") in ev)
        assert ("usb", "online") in events
        assert worker.latest() is not None  # the last good frame stays available
        # stalled on /readyz (what health() returns), in the metrics, and no stale frame rate
        status, reason, details = svc.health()
        assert (status, details) == ("degraded", {"usb": "stalled"}) and "usb stalled" in reason
        assert status_series("usb") == {"online": 0.0, "stalled": 1.0, "offline": 0.0}
        assert REGISTRY.get_sample_value("edge_cameras_online", {"camera": "usb"}) == 0.0
        assert worker.fps == 0.0 and REGISTRY.get_sample_value("edge_cameras_fps", {"camera": "usb"}) == 0.0
        (row,) = svc.describe()
        assert (row["status"], row["fps"]) == ("stalled", 0.0) and row["stalls"] >= 4
    finally:
        svc.stop()


class HangingCamera:
    """Simulator of a driver whose read() blocks (a stream or USB device that stops answering):
    frames, then one read that hangs for `hang_s` before giving up, as V4L2's select() timeout
    (OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT) and FFmpeg's read timeout make OpenCV do."""

    kind = "v4l2"
    opens = 0

    def __init__(self, hang_s: float) -> None:
        type(self).opens += 1
        self.hang_s, self.n = hang_s, 0

    def read(self) -> np.ndarray | None:
        time.sleep(0.02)  # simulated: a frame every 20 ms
        self.n += 1
        if self.n == 40:
            time.sleep(self.hang_s)  # simulated: the read blocked in the driver, then giving up
            return None
        return np.full((48, 64, 3), 100, np.uint8)

    def close(self) -> None:
        pass


def test_a_read_blocked_in_the_driver_shows_stalled_and_is_reopened_when_it_returns() -> None:
    HangingCamera.opens = 0
    svc = CameraService([cam("0", "hang")], watchdog=FAST, opener=lambda s, f: HangingCamera(hang_s=1.5))
    worker = svc.workers["hang"]
    svc.start()
    try:
        wait_for(worker.status, 10, "the camera online", until=lambda st: st == "online")
        # blocked inside read(): no frame for longer than stall_after_s, so /readyz says stalled
        wait_for(lambda: svc.health()[2], 10, "stalled in health()", until=lambda d: d == {"hang": "stalled"})
        assert worker.reconnects == 0 and HangingCamera.opens == 1
        # the read gives up, the watchdog counts a stall, reopens, and frames flow again
        wait_for(lambda: worker.reconnects >= 1 and worker.status() == "online", 10, "a reopen, online again")
        assert worker.stalls >= 1 and HangingCamera.opens >= 2
    finally:
        svc.stop()
    assert os.environ["OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT"] == "3"  # real V4L2 reads give up after 3 s


def test_a_reader_that_raises_does_not_kill_the_thread() -> None:
    class Broken:
        kind = "file"

        def read(self) -> np.ndarray | None:
            raise RuntimeError("driver bug")

        def close(self) -> None:
            pass

    worker = CameraWorker(cam("x.avi"), FAST, opener=lambda s, f: Broken())
    worker.start()
    try:
        wait_for(lambda: worker.reconnects, 10, "two reconnects", until=lambda n: n >= 2)
        assert worker.alive
    finally:
        worker.stop()


def test_folder_source_keeps_only_the_latest_frame(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((40, 60, 3), 50 * i, np.uint8))
    svc = CameraService([cam(str(tmp_path), "shelf", fps=50)], watchdog=FAST)
    svc.start()
    try:
        w = svc.workers["shelf"]
        # looped past the 3 images
        wait_for(lambda: (w.latest() or (None, 0, 0))[2], 10, "frame 6", until=lambda seq: seq >= 6)
        frame, ts = svc.latest_frame("shelf") or (None, 0.0)
        assert frame is not None and frame.shape == (40, 60, 3) and not frame.flags.writeable
        assert time.monotonic() - ts < 1
        assert svc.camera_for("kiosk", "k1") == "shelf" and svc.camera_for("kiosk", "k9") is None
        assert svc.snapshot_jpeg("shelf")[:2] == b"\xff\xd8"
        wait_for(lambda: w.status() == "online" and svc.health()[0] == "ok", 10, "online and ok in health()")
    finally:
        svc.stop()


def test_video_file_loops(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 60, (64, 48))
    for i in range(4):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    svc = CameraService([cam(str(path), "clip")], watchdog=FAST)
    svc.start()
    try:
        w = svc.workers["clip"]
        # three times round a 4-frame clip
        wait_for(lambda: (w.latest() or (None, 0, 0))[2], 10, "frame 12", until=lambda seq: seq >= 12)
        assert w.stalls == 0 and w.reconnects == 0
    finally:
        svc.stop()
