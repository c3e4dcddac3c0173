"""The whole path in the real app: a looped video-file camera -> capture thread -> motion gate ->
decoders -> confirmation -> ScanEvent on the bus; the camera API for store IT; and broken cameras
that leave the daemon up and /readyz saying which camera is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edge.access.service import AccessService
from edge.app import Daemon
from edge.demo.gtins import GROCERY
from edge.demo.media import ensure_media
from edge.scanning.component import ScanningService
from edge.scanning.events import ScanEvent
from tests.support.inproc import running_app, staff_headers
from tests.support.waits import wait_for


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return ensure_media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def store(tmp_path: Path, media: dict[str, Any]) -> Iterator[tuple[TestClient, Daemon, list[ScanEvent]]]:
    kiosk = next(c for c in media["cameras"] if c["role"] == "kiosk")
    kiosk = {**kiosk, "replay": "loop"}  # the demo plays it once per session; this test watches the pipeline
    cameras = [
        kiosk,
        {"id": "gone-cam", "role": "fitting_room", "target": "room-9", "source": str(tmp_path / "missing.avi"),
         "reconnect_min_s": 0.1, "reconnect_max_s": 0.4},
        {"id": "usb-cam", "role": "exit_gate", "target": "gate-1", "source": "/dev/video97",
         "reconnect_min_s": 0.1, "reconnect_max_s": 0.4},
        {"id": "off-cam", "role": "kiosk", "target": "kiosk-2", "source": "0", "enabled": False},
    ]  # fmt: skip
    with running_app(tmp_path / "data", {"cameras": cameras}) as (client, daemon):
        events: list[ScanEvent] = []
        daemon.ctx.bus.subscribe(ScanEvent, events.append)
        yield client, daemon, events


def test_video_camera_scans_products_once_onto_the_bus(store: tuple[TestClient, Daemon, list[ScanEvent]]) -> None:
    """The clip shows the products one after another (~2.1 s each); the first three arrive once
    each, in order (the whole clip is checked offline in test_scanning_demo_media)."""
    client, daemon, events = store
    expected = ["0" + g[0] for g in GROCERY][:3]
    wait_for(lambda: [e.gtin for e in events], 30, "three products on the bus", until=lambda got: len(set(got)) >= 3)
    assert [e.gtin for e in events][:3] == expected  # each product once, in order, none invented
    assert {(e.camera_id, e.role, e.target, e.symbology) for e in events} == {
        ("kiosk-1-cam", "kiosk", "kiosk-1", "EAN-13")
    }
    stats = daemon.ctx.own(ScanningService).camera_stats("kiosk-1-cam")
    assert stats["events"] >= 3 and stats["frame_to_event_ms_median"] is not None  # timings: the benchmark


def test_camera_api_for_store_it(store: tuple[TestClient, Daemon, list[ScanEvent]]) -> None:
    client, daemon, _ = store
    assert client.get("/api/cameras").status_code == 401
    assert client.get("/api/cameras/kiosk-1-cam/snapshot.jpg").status_code == 401
    headers = staff_headers(daemon)

    def rows() -> dict[str, Any]:
        return {r["id"]: r for r in client.get("/api/cameras", headers=headers).json()}

    cams = wait_for(
        rows,
        20,
        "kiosk-1-cam above 5 fps and two reconnects of gone-cam",
        until=lambda r: r["kiosk-1-cam"]["fps"] > 5 and r["gone-cam"]["reconnects"] >= 2,
    )
    assert cams["kiosk-1-cam"]["status"] == "online" and cams["kiosk-1-cam"]["kind"] == "file"
    assert cams["kiosk-1-cam"]["decode"]["decoded"] > 0
    assert cams["gone-cam"]["status"] == "offline" and cams["usb-cam"]["status"] == "offline"
    assert cams["off-cam"]["status"] == "disabled"
    snap = client.get("/api/cameras/kiosk-1-cam/snapshot.jpg", headers=headers)
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg" and snap.content[:2] == b"\xff\xd8"
    assert client.get("/api/cameras/nope/snapshot.jpg", headers=headers).json()["error"]["code"] == "camera_not_found"
    no_frame = client.get("/api/cameras/gone-cam/snapshot.jpg", headers=headers)
    assert no_frame.status_code == 503 and no_frame.json()["error"]["code"] == "camera_no_frame"
    kiosk_token = {"Authorization": "Bearer " + daemon.ctx.own(AccessService).add_device("k-1", "kiosk")}
    assert client.get("/api/cameras", headers=kiosk_token).status_code == 403


def test_broken_cameras_leave_the_daemon_up_and_readyz_names_them(
    store: tuple[TestClient, Daemon, list[ScanEvent]],
) -> None:
    client, _, _ = store
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz").json()
    cams = ready["components"]["cameras"]
    assert cams["status"] == "degraded"
    assert "gone-cam offline" in cams["reason"] and "usb-cam offline" in cams["reason"]
    assert "kiosk-1-cam" not in cams["reason"]
