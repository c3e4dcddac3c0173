"""Face-pay end to end on real models and real shared photos, with a real SQLite store.

The kiosk camera is the one simulator here (no camera device exists on a CI box): it serves a
real photo letterboxed into 1280x720 frames, as the cameras domain's FrameSource would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlmodel import select

from edge.app import prepare_storage
from edge.cameras.contract import CameraInfo
from edge.demo.media import letterbox
from edge.facepay.models import FaceAttempt, FaceConsent, FaceMember, FaceTemplate
from edge.facepay.service import FaceServices, build_services
from edge.platform.audit import AuditEvent
from edge.platform.codes import Codes
from edge.platform.errors import EdgeError, RateLimited
from edge.platform.outbox import OutboxEvent
from edge.platform.security import SecretStore
from edge.platform.timeutil import utcnow
from tests.conftest import shared_path
from tests.support.inproc import settings_for

FACES = "data/faces/images/deepface__{}.jpg"


def photo(name: str) -> np.ndarray:
    img = cv2.imread(str(shared_path(FACES.format(name))))
    assert img is not None
    return img


def frame_720p(name: str) -> np.ndarray:
    """A real photo letterboxed into a 1280x720 frame, as a kiosk camera would deliver it."""
    return letterbox(photo(name))


class SimulatedFaceCamera:
    """Simulator of the cameras domain's FrameSource: a fresh timestamp on every frame."""

    def __init__(self, frame: np.ndarray, kiosk: str = "kiosk-1") -> None:
        self.frame, self.kiosk = frame, kiosk

    def camera_for(self, role: str, target: str | None) -> str | None:
        return "cam-face-1" if role == "face" and target == self.kiosk else None

    def latest_frame(self, camera_id: str) -> tuple[np.ndarray, float] | None:
        return self.frame, time.monotonic()

    def cameras(self) -> list[CameraInfo]:
        return [CameraInfo("cam-face-1", "face", self.kiosk)]

    def wait_frame(self, camera_id: str, after_seq: int, timeout: float) -> tuple[np.ndarray, float, int] | None:
        return self.frame, time.monotonic(), after_seq + 1


@dataclass
class Store:
    svc: FaceServices
    data_dir: Path
    camera: dict[str, Any]

    def db_rows(self, model: Any) -> list[Any]:
        with self.svc.enrolment.store.read() as s:
            return list(s.exec(select(model)).all())


def make_store(tmp_path: Path, **facepay: Any) -> Store:
    cfg = {"attempts_per_kiosk_per_min": 100, "attempts_per_member_per_hour": 100, **facepay}
    settings = settings_for(tmp_path / "data", {"model_dir": str(shared_path("models")), "facepay": cfg})
    db = prepare_storage(settings)
    camera: dict[str, Any] = {}
    svc = build_services(
        settings.facepay,
        settings.model_dir,
        db,
        SecretStore(settings.storage.data_dir),
        lambda: camera.get("source"),
    )
    svc.runtime.load(on_loaded=svc.enrolment.load_gallery)
    assert svc.runtime.status == "ok", svc.runtime.reason
    return Store(svc, settings.storage.data_dir, camera)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = make_store(tmp_path)
    yield st
    st.svc.enrolment.store.dispose()


def code(st: Store, member: str) -> str:
    """The member's signed QR code (a claimed identity for 1:1 must be signed)."""
    return Codes(SecretStore(st.data_dir)).member_code(member)


def enroll(st: Store, member: str, names: list[str], **kw: Any) -> Any:
    return st.svc.enrolment.enroll(
        member_id=member,
        frames=[photo(n) for n in names],
        consent=True,
        consent_version="v1",
        kiosk_id="kiosk-1",
        actor="user:it-admin",
        stills=True,
        **kw,
    )


ID02 = ["img47", "img48", "img8"]


def test_same_person_matches_and_a_different_person_does_not(store: Store) -> None:
    out = enroll(store, "m-02", ID02)
    enroll(store, "m-06", ["img29", "img30", "img31"])
    assert out.frames_used == 3
    v = store.svc.verification
    same = v.verify(kiosk_id="kiosk-1", actor="t", frames=[photo("img9")], stills=True)
    assert (same["decision"], same["member_id"], same["mode"]) == ("match", "m-02", "1:N")
    assert same["similarity"] >= store.svc.runtime.cfg.match_threshold and same["margin"] > 0.08
    # detection confidence, liveness and similarity are separate fields
    assert 0 < same["detection_score"] <= 1 and same["liveness"] > 0.8
    assert set(same["models"]) == {"detector", "embedder", "liveness"}
    assert {"detect", "liveness", "align", "embed", "match"} <= set(same["timings_ms"])
    stranger = v.verify(kiosk_id="kiosk-1", actor="t", frames=[photo("img38")], stills=True)  # id07: not enrolled
    assert stranger["decision"] == "no_match" and stranger["member_id"] is None
    claimed = v.verify(
        kiosk_id="kiosk-1", actor="t", member_hint=code(store, "m-02"), frames=[photo("img32")], stills=True
    )
    assert (claimed["decision"], claimed["reason"], claimed["mode"]) == ("no_match", "below_threshold", "1:1")
    ok_1to1 = v.verify(
        kiosk_id="kiosk-1", actor="t", member_hint=code(store, "m-06"), frames=[photo("img33")], stills=True
    )
    assert ok_1to1["decision"] == "match" and ok_1to1["member_id"] == "m-06"


def test_phone_digits_narrow_the_candidates(store: Store) -> None:
    enroll(store, "m-02", ID02, phone_digits="13800001234")
    enroll(store, "m-06", ["img29", "img30", "img31"], phone_digits="13900005678")
    v = store.svc.verification
    r = v.verify(kiosk_id="kiosk-1", actor="t", member_hint="phone:1234", frames=[photo("img9")], stills=True)
    assert r["decision"] == "match" and r["member_id"] == "m-02"
    wrong = v.verify(kiosk_id="kiosk-1", actor="t", member_hint="phone:5678", frames=[photo("img9")], stills=True)
    assert wrong["decision"] == "no_match"
    assert all(m.phone_hash and "1234" not in m.phone_hash for m in store.db_rows(FaceMember))


def test_a_low_liveness_photo_is_refused_as_a_spoof(store: Store) -> None:
    enroll(store, "m-00", ["img1", "img2", "img6"])
    r = store.svc.verification.verify(kiosk_id="kiosk-1", actor="t", frames=[photo("img4")], stills=True)
    assert (r["decision"], r["reason"], r["member_id"]) == ("spoof", "liveness", None)
    assert r["liveness"] < 0.5


def test_payment_authorisation_is_single_use_and_bound_to_order_and_amount(store: Store) -> None:
    enroll(store, "m-02", ID02)
    store.camera["source"] = SimulatedFaceCamera(frame_720p("img50"))
    v = store.svc.verification
    r = v.verify_for_payment(kiosk_id="kiosk-1", order_ref="ks-1", amount_minor=1999, currency="CNY")
    auth = r["authorization"]
    assert r["decision"] == "match" and auth.member_id == "m-02" and r["frames"] == 3
    with pytest.raises(EdgeError) as wrong:
        v.consume_authorization(auth.auth_id, order_ref="ks-1", amount_minor=2999, currency="CNY")
    assert wrong.value.code == "face_auth_mismatch"
    with pytest.raises(EdgeError) as other:
        v.consume_authorization(auth.auth_id, order_ref="ks-2", amount_minor=1999, currency="CNY")
    assert other.value.code == "face_auth_mismatch"
    used = v.consume_authorization(auth.auth_id, order_ref="ks-1", amount_minor=1999, currency="CNY")
    assert used.member_id == "m-02" and used.amount_minor == 1999
    with pytest.raises(EdgeError) as again:
        v.consume_authorization(auth.auth_id, order_ref="ks-1", amount_minor=1999, currency="CNY")
    assert again.value.code == "face_auth_used"
    with pytest.raises(EdgeError) as unknown:
        v.consume_authorization("nope", order_ref="ks-1", amount_minor=1999, currency="CNY")
    assert unknown.value.code == "face_auth_unknown"
    # a stranger at the camera gets no authorisation
    store.camera["source"] = SimulatedFaceCamera(frame_720p("img38"))
    r2 = v.verify_for_payment(kiosk_id="kiosk-1", order_ref="ks-3", amount_minor=500, currency="CNY")
    assert r2["decision"] == "no_match" and r2["authorization"] is None


def test_expired_authorisation_is_refused(tmp_path: Path) -> None:
    st = make_store(tmp_path, authorization_ttl_s=10)
    enroll(st, "m-02", ID02)
    v = st.svc.verification
    auth = v.verify_for_payment(
        kiosk_id="k", order_ref="o", amount_minor=1, currency="CNY", frames=[frame_720p("img50")]
    )["authorization"]
    from edge.facepay.models import FaceAuthorizationRow

    with st.svc.enrolment.store.write() as s:
        row = s.get(FaceAuthorizationRow, auth.auth_id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
    with pytest.raises(EdgeError) as gone:
        v.consume_authorization(auth.auth_id, order_ref="o", amount_minor=1, currency="CNY")
    assert gone.value.code == "face_auth_expired"


def test_erasure_removes_the_template_and_queues_the_event(store: Store) -> None:
    enroll(store, "m-02", ID02, phone_digits="13800001234")
    store.svc.enrolment.erase("m-02", "user:it-admin")
    assert store.db_rows(FaceTemplate) == [] and store.db_rows(FaceMember) == []
    assert all(c.withdrawn_at is not None for c in store.db_rows(FaceConsent))
    kinds = [(e.stream, e.kind) for e in store.db_rows(OutboxEvent)]
    assert ("face", "consent") in kinds and ("face", "erasure") in kinds
    r = store.svc.verification.verify(kiosk_id="kiosk-1", actor="t", frames=[photo("img9")], stills=True)
    assert r["decision"] == "no_match"
    with pytest.raises(EdgeError) as again:
        store.svc.enrolment.erase("m-02", "user:it-admin")
    assert again.value.code == "face_member_unknown"
    # a restart does not bring the member back
    fresh = make_store(store.data_dir.parent)
    assert len(fresh.svc.runtime.gallery or []) == 0


def test_templates_expire_after_the_retention_period(store: Store) -> None:
    out = enroll(store, "m-02", ID02)
    assert store.svc.enrolment.purge_expired() == 0
    assert store.svc.enrolment.purge_expired(out.expires_at + timedelta(seconds=1)) == 1
    assert store.db_rows(FaceTemplate) == []
    payloads = [json.loads(e.payload) for e in store.db_rows(OutboxEvent) if e.kind == "erasure"]
    assert payloads and payloads[0]["reason"] == "retention"


def test_enrolment_needs_consent_good_frames_and_a_new_face(store: Store) -> None:
    e = store.svc.enrolment
    with pytest.raises(EdgeError) as no_consent:
        e.enroll(
            member_id="m",
            frames=[photo("img9")],
            consent=False,
            consent_version="v1",
            kiosk_id="k",
            actor="a",
        )
    assert no_consent.value.code == "face_consent_required"
    with pytest.raises(EdgeError) as version:
        e.enroll(member_id="m", frames=[photo("img9")], consent=True, consent_version="v9", kiosk_id="k", actor="a")
    assert version.value.code == "face_consent_version_unknown"
    with pytest.raises(EdgeError) as blank:
        e.enroll(
            member_id="m",
            frames=[np.zeros((480, 640, 3), np.uint8)] * 2,
            consent=True,
            consent_version="v1",
            kiosk_id="k",
            actor="a",
            stills=True,
        )
    assert blank.value.code == "face_enroll_quality" and blank.value.details["rejected"] == {"no_face": 2}
    with pytest.raises(EdgeError) as mixed:
        enroll(store, "m", ["img47", "img29"])  # two different people
    assert mixed.value.code == "face_enroll_inconsistent"
    enroll(store, "m-02", ID02)
    with pytest.raises(EdgeError) as dup:
        enroll(store, "m-other", ["img9", "img50"])  # the same person under another id
    assert dup.value.code == "face_already_enrolled"
    assert [t.member_id for t in store.db_rows(FaceTemplate)] == ["m-02"]


def test_repeated_failures_lock_the_kiosk_and_the_member_out(tmp_path: Path) -> None:
    st = make_store(tmp_path, lockout_failures=2, lockout_minutes=5)
    enroll(st, "m-02", ID02)
    v = st.svc.verification
    for _ in range(2):
        r = v.verify(kiosk_id="k1", actor="t", member_hint=code(st, "m-02"), frames=[photo("img29")], stills=True)
        assert r["decision"] == "no_match"
    with pytest.raises(RateLimited) as locked:
        v.verify(kiosk_id="k1", actor="t", frames=[photo("img9")], stills=True)
    assert locked.value.code == "face_locked_out" and locked.value.details["subject"] == "kiosk"
    with pytest.raises(RateLimited) as member_locked:  # the member is locked at every kiosk
        v.verify(kiosk_id="k2", actor="t", member_hint=code(st, "m-02"), frames=[photo("img9")], stills=True)
    assert member_locked.value.details["subject"] == "member"
    ok = v.verify(kiosk_id="k2", actor="t", frames=[photo("img29")], stills=True)  # another kiosk, 1:N
    assert ok["decision"] == "no_match"
    attempts = st.db_rows(FaceAttempt)
    assert [a.decision for a in attempts].count("refused") == 2
    audits = [a for a in st.db_rows(AuditEvent) if a.action == "face.verify"]
    assert len(audits) == len(attempts) == 5
    assert all("similarity" in json.loads(a.detail) or json.loads(a.detail)["decision"] == "refused" for a in audits)


def test_attempts_per_kiosk_are_limited(tmp_path: Path) -> None:
    st = make_store(tmp_path, attempts_per_kiosk_per_min=3)
    blank = np.zeros((720, 1280, 3), np.uint8)
    for _ in range(3):
        assert st.svc.verification.verify(kiosk_id="k1", actor="t", frames=[blank])["decision"] == "rejected"
    with pytest.raises(RateLimited) as limited:
        st.svc.verification.verify(kiosk_id="k1", actor="t", frames=[blank])
    assert limited.value.code == "face_rate_limited"
    assert st.svc.verification.verify(kiosk_id="k2", actor="t", frames=[blank])["reason"] == "no_face"


def test_frames_of_two_people_are_never_averaged(store: Store) -> None:
    enroll(store, "m-02", ID02)
    frames = [frame_720p("img50"), frame_720p("img38"), frame_720p("img50")]
    r = store.svc.verification.verify(kiosk_id="kiosk-1", actor="t", frames=frames)
    assert (r["decision"], r["reason"], r["member_id"]) == ("rejected", "inconsistent_frames", None)


def test_key_rotation_then_reseal_keeps_templates_usable(store: Store) -> None:
    enroll(store, "m-02", ID02)
    ring = store.svc.enrolment.sealer.ring
    old = ring.active()[0]
    ring.rotate()
    assert store.svc.enrolment.reseal() == (1, ring.active()[0])
    assert ring.retire_all_but_active() == [old]
    fresh = make_store(store.data_dir.parent)  # a restart decrypts every template with the new key
    r = fresh.svc.verification.verify(kiosk_id="kiosk-1", actor="t", frames=[photo("img9")], stills=True)
    assert r["decision"] == "match" and r["member_id"] == "m-02"
