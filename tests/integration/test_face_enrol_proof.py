"""Who may put a face on a member: a kiosk needs the member's signed QR code, and a member who
is already enrolled can be re-enrolled at a kiosk only by the same face; staff may do both.

Real app, real models, real photos (identity 02 = img47/48/8/9/50, identity 06 = img29..33).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from edge.app import Daemon
from edge.facepay.models import FaceTemplate
from edge.platform.audit import AuditEvent
from edge.platform.codes import Codes
from edge.platform.errors import EdgeError
from tests.conftest import shared_path
from tests.integration.test_face_api import b64, wait_models
from tests.integration.test_face_service import SimulatedFaceCamera, Store, enroll, frame_720p, make_store
from tests.support.inproc import device_headers, running_app, staff_headers

ID02 = ("img47", "img48", "img8")
ID06 = ("img29", "img30", "img31")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, Daemon]]:
    overrides = {"model_dir": str(shared_path("models")), "facepay": {"attempts_per_kiosk_per_min": 50}}
    with running_app(tmp_path / "data", overrides) as pair:
        assert wait_models(pair[0])["status"] == "ok"
        yield pair


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = make_store(tmp_path)
    yield st
    st.svc.enrolment.store.dispose()


def body(member_id: str, names: tuple[str, ...], code: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"member_id": member_id, "consent_version": "v1", "consent": True}
    out["images_b64"] = [b64(n) for n in names]
    if code is not None:
        out["member_code"] = code
    return out


def templates(daemon: Daemon) -> dict[str, str]:
    with daemon.ctx.store.read() as s:
        return {t.member_id: t.id for t in s.exec(select(FaceTemplate)).all()}


def test_a_kiosk_enrols_only_the_member_whose_qr_code_it_scanned(app: tuple[TestClient, Daemon]) -> None:
    client, daemon = app
    kiosk = device_headers(daemon, "kiosk-1", "kiosk")
    codes = Codes(daemon.ctx.secrets)

    def tampered(code: str) -> str:  # the last signature characters changed, whatever they were
        return code[:-3] + ("BBB" if code.endswith("AAA") else "AAA")

    refusals = [
        (body("m-02", ID02), 403, "face_member_proof_required"),
        (body("m-02", ID02, codes.member_code("m-03")), 403, "face_member_proof_mismatch"),
        (body("m-02", ID02, tampered(codes.member_code("m-02"))), 400, "member_code_invalid"),
        (body("m-02", ID02, "RC1:" + codes.member_code("m-02")[4:]), 400, "member_code_invalid"),
    ]
    for b, status, code in refusals:
        r = client.post("/api/face/enroll", json=b, headers=kiosk)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    daemon.ctx.services.cameras = SimulatedFaceCamera(frame_720p("img38"))
    cam = {"member_id": "m-07", "consent_version": "v1", "consent": True}
    r = client.post("/api/face/enroll/camera", json=cam, headers=kiosk)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "face_member_proof_required")
    assert templates(daemon) == {}

    r = client.post("/api/face/enroll", json=body("m-02", ID02, codes.member_code("m-02")), headers=kiosk)
    assert r.status_code == 201, r.text
    r = client.post("/api/face/enroll/camera", json={**cam, "member_code": codes.member_code("m-07")}, headers=kiosk)
    assert r.status_code == 201, r.text
    # staff vouch for the member themselves: no code needed
    r = client.post("/api/face/enroll", json=body("m-06", ID06), headers=staff_headers(daemon))
    assert r.status_code == 201, r.text
    assert set(templates(daemon)) == {"m-02", "m-06", "m-07"}


def test_a_kiosk_cannot_replace_a_members_face_with_another(app: tuple[TestClient, Daemon]) -> None:
    client, daemon = app
    kiosk = device_headers(daemon, "kiosk-1", "kiosk")
    code = Codes(daemon.ctx.secrets).member_code("m-02")
    assert client.post("/api/face/enroll", json=body("m-02", ID02, code), headers=kiosk).status_code == 201
    before = templates(daemon)

    # someone holding m-02's QR code (a lost card) tries to put their own face on the account
    r = client.post("/api/face/enroll", json=body("m-02", ID06, code), headers=kiosk)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "face_reenrol_mismatch"), r.text
    assert templates(daemon) == before
    v = client.post("/api/face/verify", json={"images_b64": [b64("img32")]}, headers=kiosk).json()
    assert v["decision"] == "no_match"  # the intruder's face pays for nobody
    v = client.post("/api/face/verify", json={"images_b64": [b64("img9")]}, headers=kiosk).json()
    assert (v["decision"], v["member_id"]) == ("match", "m-02")  # the member still pays
    with daemon.ctx.store.read() as s:
        refused = s.exec(select(AuditEvent).where(AuditEvent.action == "face.enroll_refused")).all()
    assert [(a.subject, a.actor) for a in refused] == [("m-02", "device:kiosk-1")]

    # the member themself renews with new photos: the same face, so the kiosk may replace it
    r = client.post("/api/face/enroll", json=body("m-02", ("img9", "img50", "img47"), code), headers=kiosk)
    assert r.status_code == 201, r.text
    assert templates(daemon)["m-02"] != before["m-02"]
    # staff may replace a face outright (e.g. after checking an ID document)
    r = client.post("/api/face/enroll", json=body("m-02", ID06), headers=staff_headers(daemon))
    assert r.status_code == 201, r.text
    v = client.post("/api/face/verify", json={"images_b64": [b64("img32")]}, headers=kiosk).json()
    assert (v["decision"], v["member_id"]) == ("match", "m-02")


def test_the_service_refuses_a_different_face_for_an_enrolled_member(store: Store) -> None:
    enroll(store, "m-02", list(ID02))
    with pytest.raises(EdgeError) as other:
        enroll(store, "m-02", list(ID06))
    assert (other.value.status, other.value.code) == (403, "face_reenrol_mismatch")
    assert [t.member_id for t in store.db_rows(FaceTemplate)] == ["m-02"]
    enroll(store, "m-02", ["img9", "img50"])  # same person: allowed
    enroll(store, "m-02", list(ID06), by_staff=True)  # staff: allowed
    assert len(store.db_rows(FaceTemplate)) == 1
