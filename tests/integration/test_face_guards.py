"""Face-pay guards on real models and photos: the per-member attempt budget across kiosks,
expiry before the sweep and at startup, an embedder swap, and one-photo enrolment refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from edge.cli import app as cli_app
from edge.facepay import gallery as gallery_module
from edge.facepay.manifest import PROJECT_MANIFEST
from edge.facepay.models import FaceTemplate
from edge.platform.errors import EdgeError, RateLimited
from edge.platform.timeutil import utcnow
from tests.conftest import shared_path
from tests.integration.test_face_api import wait_models
from tests.integration.test_face_service import ID02, Store, code, enroll, make_store, photo
from tests.support.inproc import running_app, staff_headers


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = make_store(tmp_path)
    yield st
    st.svc.enrolment.store.dispose()


def test_the_member_budget_holds_across_kiosks(tmp_path: Path) -> None:
    st = make_store(tmp_path, attempts_per_member_per_hour=2)
    enroll(st, "m-02", ID02, phone_digits="13800001234")
    v = st.svc.verification
    for kiosk in ("k1", "k2"):  # two successful 1:1 attempts at two kiosks use the member's hour
        r = v.verify(kiosk_id=kiosk, actor="t", member_hint=code(st, "m-02"), frames=[photo("img9")], stills=True)
        assert r["decision"] == "match"
    with pytest.raises(RateLimited) as limited:
        v.verify(kiosk_id="k3", actor="t", member_hint=code(st, "m-02"), frames=[photo("img9")], stills=True)
    assert (limited.value.code, limited.value.details["subject"]) == ("face_rate_limited", "member")
    with pytest.raises(RateLimited):  # phone digits naming only this member draw on the same budget
        v.verify(kiosk_id="k4", actor="t", member_hint="phone:13800001234", frames=[photo("img9")], stills=True)
    # the kiosk itself is not limited: a 1:N attempt there still runs
    assert v.verify(kiosk_id="k3", actor="t", frames=[photo("img38")], stills=True)["decision"] == "no_match"


def _expire(st: Store, member: str) -> None:
    with st.svc.enrolment.store.write() as s:
        for row in s.exec(select(FaceTemplate).where(FaceTemplate.member_id == member)):
            row.expires_at = utcnow() - timedelta(seconds=1)
            s.add(row)


def test_an_expired_template_stops_matching_before_the_sweep(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    out = enroll(store, "m-02", ID02)
    v = store.svc.verification
    assert v.verify(kiosk_id="k1", actor="t", frames=[photo("img9")], stills=True)["member_id"] == "m-02"
    later = out.expires_at.timestamp() + 60  # a minute past retention; the hourly sweep has not run
    monkeypatch.setattr(gallery_module, "time", SimpleNamespace(time=lambda: later))
    r = v.verify(kiosk_id="k1", actor="t", frames=[photo("img9")], stills=True)
    assert (r["decision"], r["reason"], r["member_id"]) == ("no_match", "empty_gallery", None)
    one = v.verify(kiosk_id="k2", actor="t", member_hint=code(store, "m-02"), frames=[photo("img9")], stills=True)
    assert (one["decision"], one["reason"]) == ("no_match", "not_enrolled")
    assert len(store.db_rows(FaceTemplate)) == 1  # still stored: only the sweep erases it


def test_the_daemon_sweeps_expired_templates_at_startup(tmp_path: Path) -> None:
    st = make_store(tmp_path)
    enroll(st, "m-02", ID02)
    enroll(st, "m-06", ["img29", "img30", "img31"])
    _expire(st, "m-02")
    st.svc.enrolment.store.dispose()
    with running_app(tmp_path / "data", {"model_dir": str(shared_path("models"))}) as (client, daemon):
        assert wait_models(client)["status"] == "ok"
        counts = client.get("/api/face/counts", headers=staff_headers(daemon)).json()
        assert (counts["templates"], counts["gallery_loaded"]) == (1, 1)


def test_templates_of_another_embedder_version_are_not_loaded(tmp_path: Path) -> None:
    st = make_store(tmp_path)
    enroll(st, "m-02", ID02)
    st.svc.enrolment.store.dispose()
    text = PROJECT_MANIFEST.read_text()
    entry = text[text.index("[models.mobilefacenet]") :].split("\n\n")[0]
    swapped = entry.replace("[models.mobilefacenet]", "[models.mobilefacenet_b]").replace(
        'version = "mobilefacenet-paddlex-ms1mv3-128d"', 'version = "mobilefacenet-b-test"'
    )
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(text.replace('embedder = "mobilefacenet"', 'embedder = "mobilefacenet_b"') + "\n" + swapped)
    other = make_store(tmp_path, manifest=str(manifest))
    assert other.svc.runtime.models is not None
    assert other.svc.runtime.models.versions()["embedder"] == "mobilefacenet-b-test"
    assert len(other.svc.runtime.gallery or []) == 0  # the old template is kept but never compared
    r = other.svc.verification.verify(kiosk_id="k1", actor="t", frames=[photo("img9")], stills=True)
    assert (r["decision"], r["reason"]) == ("no_match", "empty_gallery")
    with pytest.raises(EdgeError) as kiosk:
        enroll(other, "m-02", ["img9", "img50"], by_staff=False)
    assert kiosk.value.code == "face_reenrol_needs_staff"
    enroll(other, "m-02", ["img9", "img50"], by_staff=True)  # staff re-enrol under the new embedder
    again = other.svc.verification.verify(kiosk_id="k1", actor="t", frames=[photo("img47")], stills=True)
    assert (again["decision"], again["member_id"]) == ("match", "m-02")
    assert [t.embedder for t in other.db_rows(FaceTemplate)] == ["mobilefacenet-b-test"]


def test_one_photo_never_enrols(store: Store, tmp_path: Path) -> None:
    with pytest.raises(EdgeError) as one:
        enroll(store, "m-02", ["img9"])
    assert (one.value.code, one.value.details) == ("face_enroll_too_few_images", {"needed": 2, "given": 1})
    env = {
        "RETAIL_EDGE_MODEL_DIR": str(shared_path("models")),
        "RETAIL_EDGE_STORAGE__DATA_DIR": str(tmp_path / "cli"),
        "RETAIL_EDGE_LOGGING__LEVEL": "WARNING",
    }
    img9 = str(shared_path("data/faces/images/deepface__img9.jpg"))
    r = CliRunner().invoke(cli_app, ["face", "enroll", "--member", "m-1", "--consent", img9], env=env)
    assert r.exit_code == 2 and "face_enroll_too_few_images" in r.output
    blank = tmp_path / "blank.jpg"
    assert cv2.imwrite(str(blank), np.full((480, 640, 3), 200, np.uint8))
    r = CliRunner().invoke(cli_app, ["face", "compare", "--json", img9, str(blank)], env=env)
    assert r.exit_code == 0, r.output
    line = json.loads(r.stdout.splitlines()[-1])
    assert (line["match"], line["similarity"]) == (False, None) and line["error"].startswith("b: ")
    assert "no_face" in line["error"]
