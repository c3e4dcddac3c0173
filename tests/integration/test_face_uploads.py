"""Big uploads stay bounded: nothing is spooled to a temporary file or the data dir, one decoded
frame is alive at a time, and a request over the byte cap is refused before it is read whole.

Real app, real models; the uploads are real face photos enlarged to ~4 MP and 1-4 MB JPEGs.
"""

from __future__ import annotations

import base64
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from fastapi.testclient import TestClient

from edge.app import Daemon
from tests.conftest import shared_path
from tests.integration.test_face_api import member_code, wait_models
from tests.integration.test_face_service import photo
from tests.support.inproc import device_headers, running_app

ID02 = ("img47", "img48", "img8", "img9", "img50")
PIXELS = 3_950_000  # just under the default 4 MP cap
FRAME = PIXELS * 3  # bytes of one decoded BGR frame


def big_jpeg(name: str, quality: int = 100) -> bytes:
    """A real photo enlarged (aspect kept) to ~4 MP."""
    img = photo(name)
    k = (PIXELS / (img.shape[0] * img.shape[1])) ** 0.5
    big = cv2.resize(img, (int(img.shape[1] * k), int(img.shape[0] * k)), interpolation=cv2.INTER_CUBIC)
    ok, buf = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, Daemon]]:
    overrides = {"model_dir": str(shared_path("models")), "facepay": {"attempts_per_kiosk_per_min": 50}}
    with running_app(tmp_path / "data", overrides) as pair:
        assert wait_models(pair[0])["status"] == "ok"
        yield pair


@pytest.fixture
def spool_watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[str], Path]]:
    """Every temporary file Python opens in this process (Starlette's spooling included) is recorded.

    On Linux a TemporaryFile is unlinked at once (O_TMPFILE), so listing the directory is not
    enough: the calls themselves are watched, and the temp dir is a fresh one we list too.
    """
    opened: list[str] = []
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        real = getattr(tempfile, name)

        def spy(*a: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            opened.append(_name)
            return _real(*a, **kw)

        monkeypatch.setattr(tempfile, name, spy)
    real_rollover = tempfile.SpooledTemporaryFile.rollover

    def rollover(self: Any) -> None:
        opened.append("SpooledTemporaryFile.rollover")
        real_rollover(self)

    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", rollover)
    yield opened, spool


def test_big_uploads_never_touch_a_temp_file_or_the_data_dir(
    app: tuple[TestClient, Daemon], spool_watch: tuple[list[str], Path]
) -> None:
    client, daemon = app
    opened, spool = spool_watch
    kiosk = device_headers(daemon, "kiosk-1", "kiosk")
    uploads = [big_jpeg(n) for n in ID02[:4]]
    assert all(1_000_000 <= len(u) <= 4_000_000 for u in uploads), [len(u) for u in uploads]

    # the multipart route is gone: Starlette would spool each file over 1 MB to disk before auth
    files = [("images", (f"{i}.jpg", u, "image/jpeg")) for i, u in enumerate(uploads)]
    form = {"member_id": "m-02", "consent_version": "v1", "consent": "true"}
    r = client.post("/api/face/enroll/upload", data=form, files=files, headers=kiosk)
    assert r.status_code in (404, 405), r.text
    body = {
        "member_id": "m-02",
        "member_code": member_code(daemon, "m-02"),
        "consent_version": "v1",
        "consent": True,
        "images_b64": [base64.b64encode(u).decode() for u in uploads],
    }
    r = client.post("/api/face/enroll", json=body, headers=kiosk)
    assert r.status_code == 201, r.text
    assert r.json()["frames_used"] == 4
    probe = [base64.b64encode(big_jpeg(ID02[4])).decode()]
    v = client.post("/api/face/verify", json={"images_b64": probe}, headers=kiosk).json()
    assert (v["decision"], v["member_id"]) == ("match", "m-02")

    assert opened == [], f"temporary files were opened: {opened}"
    assert list(spool.iterdir()) == []
    needles = [u[i : i + 48] for u in uploads for i in range(400, len(u) - 48, len(u) // 9)]
    data_dir = Path(daemon.settings.storage.data_dir)
    for path in (p for p in data_dir.rglob("*") if p.is_file()):
        blob = path.read_bytes()
        assert not any(n in blob for n in needles), f"upload bytes found in {path}"


def test_an_enrolment_holds_one_decoded_frame_at_a_time(app: tuple[TestClient, Daemon]) -> None:
    """Ten ~4 MP uploads: the peak of traced memory stays near one frame, not ten (~120 MB)."""
    client, daemon = app
    kiosk = device_headers(daemon, "kiosk-1", "kiosk")
    images = [base64.b64encode(big_jpeg(n, 85)).decode() for n in ID02 * 2]
    body = {"member_id": "m-02", "consent_version": "v1", "consent": True, "images_b64": images}
    body["member_code"] = member_code(daemon, "m-02")
    text = sum(len(t) for t in images)
    tracemalloc.start()
    try:
        r = client.post("/api/face/enroll", json=body, headers=kiosk)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 201, r.text
    assert r.json()["frames_used"] == 10
    # the request text, its parsed copy and the raw JPEG bytes are compressed data (~5x text in
    # all); ten decoded frames would add ~10 x 12 MB on top
    assert peak < 2 * FRAME + 5 * text, (peak, FRAME, text)


def test_a_request_over_the_byte_cap_is_refused_typed(app: tuple[TestClient, Daemon]) -> None:
    client, daemon = app
    kiosk = device_headers(daemon, "kiosk-1", "kiosk")
    cap = 10 * (daemon.settings.facepay.max_upload_bytes * 4 // 3 + 64) + 16_384
    huge = b'{"member_id": "m-1", "images_b64": ["' + b"A" * cap + b'"]}'
    r = client.post("/api/face/enroll", content=huge, headers={**kiosk, "content-type": "application/json"})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "face_request_too_large")

    r = client.post("/api/face/enroll", content=huge)  # no token: refused before the body is read
    assert r.status_code == 401
