"""Face-pay over HTTP in the real app: readiness, enrolment, hostile uploads, verification,
erasure, and the proof that no face image lands on disk or in a log."""

from __future__ import annotations

import base64
import json
import logging
import resource
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from edge.app import Daemon
from edge.facepay.align import align_face
from edge.facepay.enrolment import EnrolmentService
from edge.facepay.verification import VerificationService
from edge.platform.codes import Codes
from edge.platform.observability import JsonFormatter
from tests.conftest import shared_path
from tests.integration.test_face_service import SimulatedFaceCamera, frame_720p
from tests.support.inproc import device_headers, running_app, staff_headers
from tests.support.waits import wait_for

FACES = "data/faces/images/deepface__{}.jpg"


def jpeg(name: str) -> bytes:
    return shared_path(FACES.format(name)).read_bytes()


def b64(name: str) -> str:
    return base64.b64encode(jpeg(name)).decode()


def member_code(daemon: Daemon, member_id: str) -> str:
    """The member's signed QR code, as checkout issues it (a kiosk enrolment needs it)."""
    return Codes(daemon.ctx.secrets).member_code(member_id)


def wait_models(client: TestClient, timeout: float = 60) -> dict[str, Any]:
    """The models entry of /readyz once loading has ended (ok, or down with a reason)."""
    return wait_for(
        lambda: dict(client.get("/readyz").json()["components"]["models"]),
        timeout,
        "the face models to finish loading",
        until=lambda entry: entry["status"] != "degraded",
    )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, Daemon]]:
    overrides = {"model_dir": str(shared_path("models")), "facepay": {"attempts_per_kiosk_per_min": 50}}
    with running_app(tmp_path / "data", overrides) as pair:
        assert wait_models(pair[0])["status"] == "ok"
        yield pair


def test_missing_models_make_face_pay_down_but_the_daemon_serves(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", {"model_dir": str(tmp_path / "nowhere")}) as (client, daemon):
        entry = wait_models(client)
        assert entry["status"] == "down" and "missing" in entry["reason"]
        assert client.get("/healthz").status_code == 200
        r = client.post("/api/face/verify", json={"images_b64": [b64("img9")]}, headers=staff_headers(daemon))
        assert r.status_code == 503 and r.json()["error"]["code"] == "face_unavailable"


def test_enrol_verify_count_and_erase_over_http(app: tuple[TestClient, Daemon]) -> None:
    client, daemon = app
    kiosk = device_headers(daemon, "kiosk-1", "kiosk")
    staff = staff_headers(daemon)
    images = [b64(n) for n in ("img47", "img48", "img8")]
    body = {"member_id": "m-02", "consent_version": "v1", "consent": True, "images_b64": images}
    r = client.post("/api/face/enroll", json={**body, "member_code": member_code(daemon, "m-02")}, headers=kiosk)
    assert r.status_code == 201, r.text
    assert r.json()["frames_used"] == 3
    images = [b64(n) for n in ("img29", "img30", "img31")]
    body = {"member_id": "m-06", "consent_version": "v1", "consent": True, "images_b64": images}
    r = client.post("/api/face/enroll", json=body, headers=staff)  # staff vouch for the member
    assert r.status_code == 201, r.text
    assert client.get("/api/face/counts", headers=staff).json()["templates"] == 2
    assert client.get("/api/face/counts", headers=kiosk).status_code == 403  # counts are staff-only

    v = client.post("/api/face/verify", json={"images_b64": [b64("img9")]}, headers=kiosk).json()
    assert (v["decision"], v["member_id"]) == ("match", "m-02")
    assert v["authorization"] is None  # a plain verify never authorises a payment
    v = client.post(
        "/api/face/verify",
        json={"member_hint": member_code(daemon, "m-06"), "images_b64": [b64("img9")]},
        headers=kiosk,
    )
    assert v.json()["decision"] == "no_match"

    assert client.delete("/api/face/members/m-02", headers=kiosk).status_code == 403
    assert client.delete("/api/face/members/m-02", headers=staff).json() == {"member_id": "m-02", "erased": True}
    again = client.delete("/api/face/members/m-02", headers=staff)
    assert again.status_code == 404 and again.json()["error"]["code"] == "face_member_unknown"
    v = client.post("/api/face/verify", json={"images_b64": [b64("img9")]}, headers=kiosk).json()
    assert v["decision"] == "no_match"
    # enrolment and verification from the kiosk's face camera (simulated device, real frames)
    daemon.ctx.services.cameras = SimulatedFaceCamera(frame_720p("img38"))
    body = {"member_id": "m-07", "consent_version": "v1", "consent": True, "member_code": member_code(daemon, "m-07")}
    r = client.post("/api/face/enroll/camera", json=body, headers=kiosk)
    assert r.status_code == 201, r.text
    assert r.json()["frames_used"] == 3
    v = client.post("/api/face/verify", json={}, headers=kiosk).json()
    assert (v["decision"], v["member_id"], v["frames"]) == ("match", "m-07", 3)
    metrics = client.get("/metrics").text
    assert 'edge_facepay_attempts_total{decision="match"}' in metrics
    assert "edge_facepay_gallery_templates 2.0" in metrics  # m-06 and m-07 (m-02 was erased)
    other_kiosk = device_headers(daemon, "kiosk-2", "kiosk")
    r = client.post("/api/face/verify", json={}, headers=other_kiosk)  # kiosk-2 has no face camera
    assert (r.status_code, r.json()["error"]["code"]) == (409, "face_camera_unavailable")


def test_hostile_uploads_get_typed_4xx(app: tuple[TestClient, Daemon]) -> None:
    client, daemon = app
    kiosk = device_headers(daemon, "kiosk-1", "kiosk")
    base = {"member_id": "m-1", "consent_version": "v1", "consent": True, "member_code": member_code(daemon, "m-1")}
    cases = [
        ({**base, "images_b64": ["!!notbase64", b64("img9")]}, 400, "image_bad_base64"),
        (
            {**base, "images_b64": [base64.b64encode(b"GIF89a" + b"0" * 100).decode(), b64("img9")]},
            422,
            "image_unsupported",
        ),
        (
            {**base, "images_b64": [base64.b64encode(jpeg("img9")[:300]).decode(), b64("img9")]},
            422,
            "image_undecodable",
        ),
        ({**base, "images_b64": [b64("img9")]}, 400, "face_enroll_too_few_images"),  # one photo is not enough
        ({**base, "consent": False, "images_b64": [b64("img9")]}, 400, "face_consent_required"),
        ({**base, "member_id": "bad id; drop", "images_b64": [b64("img9")]}, 422, "invalid_request"),
    ]
    for body, status, code in cases:
        r = client.post("/api/face/enroll", json=body, headers=kiosk)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    big = base64.b64encode(b"\xff\xd8" + b"\0" * 5_000_000).decode()
    r = client.post("/api/face/enroll", json={**base, "images_b64": [big, b64("img9")]}, headers=kiosk)
    assert (r.status_code, r.json()["error"]["code"]) == (413, "image_too_large")
    assert client.get("/api/face/counts", headers=staff_headers(daemon)).json()["templates"] == 0


def test_no_face_image_reaches_disk_db_outbox_or_logs(
    app: tuple[TestClient, Daemon], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After an enrolment and a camera payment, scan every file under the data dir and every log line."""
    caplog.set_level(logging.DEBUG)
    client, daemon = app
    kiosk = device_headers(daemon, "kiosk-1", "kiosk")
    uploads = {n: jpeg(n) for n in ("img47", "img48", "img8")}
    body = {
        "member_id": "m-02",
        "member_code": member_code(daemon, "m-02"),
        "consent_version": "v1",
        "consent": True,
        "images_b64": [base64.b64encode(d).decode() for d in uploads.values()],
    }
    assert client.post("/api/face/enroll", json=body, headers=kiosk).status_code == 201
    frame = frame_720p("img50")
    daemon.ctx.services.cameras = SimulatedFaceCamera(frame)
    payer = daemon.ctx.own(VerificationService)
    result = payer.verify_for_payment(kiosk_id="kiosk-1", order_ref="ks-9", amount_minor=1200, currency="CNY")
    assert result["decision"] == "match"
    payer.consume_authorization(result["authorization"].auth_id, order_ref="ks-9", amount_minor=1200, currency="CNY")

    # What would betray an image: image file signatures, any slice of an uploaded JPEG, a row of
    # raw pixels of the camera frame or of the aligned face crop, or the plaintext embedding.
    rt = daemon.ctx.own(VerificationService).rt
    assert rt.models is not None and rt.gallery is not None and rt.pipeline is not None
    det = rt.models.detector.detect(frame, 320, 0.6)[0]
    crop = align_face(frame, det.landmarks)
    embedding = rt.pipeline.analyse(frame).embedding
    assert embedding is not None
    template = rt.gallery.top2(embedding)
    assert template and template[0][0] == "m-02"
    needles = [b"\xff\xd8\xff", b"\x89PNG", b"JFIF", b"Exif"]
    for data in uploads.values():
        needles += [data[i : i + 48] for i in range(200, len(data) - 48, len(data) // 7)]
    fy, fx = int(det.box[1] + det.box[3] / 2), int(det.box[0])
    needles.append(frame[fy, fx : fx + 32].tobytes())
    needles += [crop[56, 20:52].tobytes(), crop[70, 30:62].tobytes()]
    with daemon.ctx.store.read() as s:
        from sqlmodel import select

        from edge.facepay.gallery import open_template
        from edge.facepay.models import FaceTemplate

        row = s.exec(select(FaceTemplate)).one()
    svc = daemon.ctx.own(EnrolmentService)
    emb = open_template(svc.sealer, row.key_id, row.blob, row.id, row.member_id, row.dim)
    needles.append(emb.astype("<f4").tobytes()[:16])

    data_dir = Path(daemon.settings.storage.data_dir)
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name.startswith("edge.db") for p in files)
    for path in files:
        blob = path.read_bytes()
        for needle in needles:
            assert needle not in blob, f"image-like bytes found in {path}"
    # every record as the daemon writes it: the JSON formatter, with args, extras and tracebacks
    fmt = JsonFormatter()
    lines = [fmt.format(r) + (r.exc_text or "") + (r.stack_info or "") for r in caplog.records]
    facepay_lines = [line for line in lines if '"edge.facepay.' in line]
    assert any("face enrolled" in line for line in facepay_lines), lines  # the scan is not vacuous
    assert any("face verify" in line and "similarity=" in line for line in facepay_lines), lines
    logs = "\n".join(lines).encode()
    for needle in needles + [base64.b64encode(d[200:248])[:40] for d in uploads.values()]:
        assert needle not in logs
    # and no crash dump can carry a frame: face-pay turned core dumps off when the app started
    assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)
    con = sqlite3.connect(data_dir / "edge.db")
    rows = con.execute("SELECT stream, kind, payload FROM outbox_event WHERE stream IN ('face', 'audit')").fetchall()
    con.close()
    kinds = {(stream, kind) for stream, kind, _ in rows}
    assert {("face", "consent"), ("face", "verification"), ("audit", "face.verify")} <= kinds
    payloads = [json.loads(p) for _, _, p in rows]
    for p in payloads:
        text = json.dumps(p)
        assert "embedding" not in text and "image" not in text
        lists = [v for v in p.values() if isinstance(v, list)]
        assert all(len(v) < 16 for v in lists)  # no vector-sized number lists
    assert np.isfinite(emb).all()
