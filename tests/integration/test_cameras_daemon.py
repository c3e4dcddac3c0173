"""The real daemon process with cameras that cannot work: it starts, stays up, says which
cameras are wrong on /readyz and in /metrics, keeps retrying them, and stops promptly on SIGTERM.

One camera works first and then stalls: a folder of images (a network share, say) whose images
disappear. It must go from online to stalled, be retried, and leave everything else running."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from tests.support.services import DaemonProcess
from tests.support.waits import wait_for


def samples(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of one metric on /metrics, by its sorted labels."""
    text = httpx.get(url + "/metrics", timeout=5).text
    return {
        tuple(sorted(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == name
    }


def status_of(url: str, camera: str) -> dict[str, float]:
    return {dict(k)["status"]: v for k, v in samples(url, "edge_cameras_status").items() if dict(k)["camera"] == camera}


def test_daemon_stays_up_with_broken_and_stalling_cameras(tmp_path: Path, daemon_factory: type[DaemonProcess]) -> None:
    share = tmp_path / "share"
    share.mkdir()
    for i in range(3):
        cv2.imwrite(str(share / f"{i}.png"), np.full((48, 64, 3), 60 * i, np.uint8))
    retry = {"reconnect_min_s": 0.2, "reconnect_max_s": 1.0}
    cams = [
        {"id": "file-cam", "role": "kiosk", "target": "kiosk-1", "source": str(tmp_path / "missing.mp4"), **retry},
        {"id": "usb-cam", "role": "fitting_room", "target": "room-1", "source": "/dev/video97", **retry},
        {"id": "ip-cam", "role": "exit_gate", "target": "gate-1", "source": "rtsp://127.0.0.1:9/stream", **retry},
        {"id": "share-cam", "role": "kiosk", "target": "kiosk-2", "source": str(share), "fps": 10,
         "stall_after_s": 0.6, **retry},
    ]  # fmt: skip
    d = daemon_factory(tmp_path / "data", config={"cameras": cams}, env={"RETAIL_EDGE_MQTT__URL": "mqtt://127.0.0.1:9"})
    d.start()

    def cameras() -> dict[str, Any]:
        return httpx.get(d.url + "/readyz", timeout=5).json()["components"]["cameras"]  # type: ignore[no-any-return]

    wait_for(cameras, 20, "share-cam online on /readyz", until=lambda c: c["details"].get("share-cam") == "online")
    # the metrics follow on the watchdog's next tick (0.5 s)
    online = {"online": 1.0, "stalled": 0.0, "offline": 0.0}
    wait_for(lambda: status_of(d.url, "share-cam"), 10, "share-cam online in /metrics", until=lambda s: s == online)
    for cid in ("file-cam", "usb-cam", "ip-cam"):  # never opened, yet each has its series
        assert status_of(d.url, cid) == {"online": 0.0, "stalled": 0.0, "offline": 1.0}
        assert f"{cid} offline" in cameras()["reason"]

    for image in share.iterdir():  # the share goes away under the running camera
        image.unlink()
    wait_for(cameras, 20, "share-cam stalled on /readyz", until=lambda c: c["details"].get("share-cam") == "stalled")
    health = cameras()
    assert health["status"] == "degraded" and "share-cam stalled" in health["reason"]
    stalled = {"online": 0.0, "stalled": 1.0, "offline": 0.0}
    wait_for(lambda: status_of(d.url, "share-cam"), 10, "share-cam stalled in /metrics", until=lambda s: s == stalled)
    assert samples(d.url, "edge_cameras_fps")[(("camera", "share-cam"),)] == 0.0
    assert samples(d.url, "edge_cameras_stalls_total")[(("camera", "share-cam"),)] >= 1
    reconnects = samples(d.url, "edge_cameras_reconnects_total")
    # the first reconnect follows the stall after a backoff, so its series may not exist yet
    wait_for(lambda: samples(d.url, "edge_cameras_reconnects_total").get((("camera", "share-cam"),), 0), 15,
             "two reconnects of share-cam in /metrics", until=lambda n: n >= 2)  # fmt: skip
    assert reconnects[(("camera", "usb-cam"),)] >= 1

    assert httpx.get(d.url + "/healthz", timeout=5).status_code == 200  # the daemon is still up
    assert d.proc is not None and d.proc.poll() is None
    t0 = time.monotonic()
    assert d.stop() == 0
    assert time.monotonic() - t0 < 8
