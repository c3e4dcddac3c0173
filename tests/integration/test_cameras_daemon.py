"""The real daemon process with cameras that cannot work: it starts, stays up, says which
cameras are wrong on /readyz, keeps retrying them, and stops promptly on SIGTERM."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.services import DaemonProcess


def test_daemon_stays_up_with_broken_cameras(tmp_path: Path, daemon_factory: type[DaemonProcess]) -> None:
    cams = [
        {"id": "file-cam", "role": "kiosk", "target": "kiosk-1", "source": str(tmp_path / "missing.mp4"),
         "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        {"id": "usb-cam", "role": "fitting_room", "target": "room-1", "source": "/dev/video97",
         "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        {"id": "ip-cam", "role": "exit_gate", "target": "gate-1", "source": "rtsp://127.0.0.1:9/stream",
         "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
    ]  # fmt: skip
    d = daemon_factory(tmp_path / "data", config={"cameras": cams}, env={"RETAIL_EDGE_MQTT__URL": "mqtt://127.0.0.1:9"})
    d.start()
    time.sleep(2.0)  # several reconnect rounds
    assert httpx.get(d.url + "/healthz", timeout=5).status_code == 200
    ready = httpx.get(d.url + "/readyz", timeout=5).json()
    cams_health = ready["components"]["cameras"]
    assert cams_health["status"] == "degraded"
    for cid in ("file-cam", "usb-cam", "ip-cam"):
        assert f"{cid} offline" in cams_health["reason"]
    metrics = httpx.get(d.url + "/metrics", timeout=5).text
    assert 'edge_cameras_reconnects_total{camera="usb-cam"}' in metrics
    t0 = time.monotonic()
    assert d.stop() == 0
    assert time.monotonic() - t0 < 8
