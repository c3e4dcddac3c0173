"""Face-pay at the checkout over HTTP: the authorisation is bound to the member on the cart.

Real app, real models, real shared photos; the kiosk's face camera is the simulated device of
test_face_service (a real photo in 720p frames).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from edge.app import Daemon
from edge.checkout.catalog import import_products
from edge.checkout.models import Order
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from edge.platform.audit import AuditEvent
from tests.conftest import shared_path
from tests.integration.test_face_api import b64, wait_models
from tests.integration.test_face_service import SimulatedFaceCamera, frame_720p
from tests.support.inproc import device_headers, running_app, staff_headers

MILK = GROCERY[1][0]
FACE_A = ["img47", "img48", "img8"]  # deepface id02
FACE_B = ["img29", "img30", "img31"]  # deepface id06


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[dict[str, Any]]:
    overrides = {"model_dir": str(shared_path("models")), "facepay": {"attempts_per_kiosk_per_min": 50}}
    with running_app(tmp_path / "data", overrides) as (client, daemon):
        assert wait_models(client)["status"] == "ok"
        assert not import_products(daemon.ctx.store, demo_rows("CNY")).refused
        staff = staff_headers(daemon)
        members = {}
        for who, phone, faces in (("a", "13800001111", FACE_A), ("b", "13900002222", FACE_B)):
            m = client.post("/api/checkout/members", json={"phone": phone, "name": who}, headers=staff).json()
            enrol(client, staff, m["member_id"], phone, faces)
            members[who] = m
        yield {"client": client, "daemon": daemon, "kiosk": device_headers(daemon, "kiosk-1", "kiosk"), **members}


def enrol(client: Any, staff: dict[str, str], member_id: str, phone: str, faces: list[str]) -> None:
    """Enrol a member's face from shared photos, with consent."""
    body = {
        "member_id": member_id,
        "consent_version": "v1",
        "consent": True,
        "images_b64": [b64(n) for n in faces],
        "phone_digits": phone,
    }
    r = client.post("/api/face/enroll", json=body, headers=staff)
    assert r.status_code == 201, r.text


def cart(shop: dict[str, Any], member_code: str | None = None) -> str:
    c, k = shop["client"], shop["kiosk"]
    sid = str(c.post("/api/kiosk/sessions", json={}, headers=k).json()["session_id"])
    assert c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": MILK}, headers=k).status_code == 201
    if member_code:
        r = c.post(f"/api/kiosk/sessions/{sid}/member", json={"code": member_code}, headers=k)
        assert r.status_code == 200, r.text
    return sid


def face_verify(shop: dict[str, Any], sid: str, face: str, hint: str | None = None) -> dict[str, Any]:
    shop["daemon"].ctx.services.cameras = SimulatedFaceCamera(frame_720p(face))
    body = {"member_hint": hint} if hint else {}
    r = shop["client"].post(f"/api/kiosk/sessions/{sid}/face-verify", json=body, headers=shop["kiosk"])
    assert r.status_code == 200, r.text
    return dict(r.json())


def pay(shop: dict[str, Any], sid: str, auth_id: str) -> Any:
    body = {"provider": "face", "face_auth_id": auth_id}
    return shop["client"].post(f"/api/kiosk/sessions/{sid}/checkout", json=body, headers=shop["kiosk"])


def test_member_b_face_cannot_pay_a_cart_holding_member_a_qr(shop: dict[str, Any]) -> None:
    a, b = shop["a"], shop["b"]
    # B's face on a cart with A's QR: 1:1 against A (the cart's member), no authorisation
    sid = cart(shop, a["member_code"])
    v = face_verify(shop, sid, "img33")
    assert (v["mode"], v["decision"], v["authorization"]) == ("1:1", "no_match", None)
    # the kiosk cannot claim someone else while A's QR is on the cart
    r = shop["client"].post(
        f"/api/kiosk/sessions/{sid}/face-verify", json={"member_hint": "phone:13900002222"}, headers=shop["kiosk"]
    )
    assert r.status_code == 200 and r.json()["mode"] == "1:1" and r.json()["authorization"] is None
    # B verifies on a cart with no member (1:N), then A's QR is attached before paying
    sid2 = cart(shop)
    v = face_verify(shop, sid2, "img33")
    assert (v["mode"], v["decision"], v["member_id"]) == ("1:N", "match", b["member_id"])
    auth_b = v["authorization"]["auth_id"]
    k = shop["kiosk"]
    r = shop["client"].post(f"/api/kiosk/sessions/{sid2}/member", json={"code": a["member_code"]}, headers=k)
    assert r.status_code == 200
    refused = pay(shop, sid2, auth_b)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "face_member_mismatch")
    daemon: Daemon = shop["daemon"]
    with daemon.ctx.store.read() as s:
        assert s.exec(select(Order).where(Order.session_id == sid2)).first() is None
        audits = [e for e in s.exec(select(AuditEvent)).all() if e.action == "face.auth_refused"]
    assert [json.loads(e.detail)["cart_member_id"] for e in audits] == [a["member_id"]]
    assert audits[0].subject == b["member_id"]


def test_a_cart_member_pays_1_to_1_and_is_recorded_with_the_payment(shop: dict[str, Any]) -> None:
    a = shop["a"]
    sid = cart(shop, a["member_code"])
    v = face_verify(shop, sid, "img50")  # A's face (id02), not one of the enrolment photos
    assert (v["mode"], v["decision"], v["member_id"]) == ("1:1", "match", a["member_id"])
    assert v["margin"] is None  # 1:1 against a proven claim: the threshold alone decides
    out = pay(shop, sid, v["authorization"]["auth_id"])
    assert out.status_code == 200, out.text
    payment_id = out.json()["payment"]["id"]
    daemon: Daemon = shop["daemon"]
    with daemon.ctx.store.read() as s:
        order = s.exec(select(Order).where(Order.session_id == sid)).one()
        used = [e for e in s.exec(select(AuditEvent)).all() if e.action == "face.auth_used"]
    assert order.member_id == a["member_id"]
    detail = json.loads(used[0].detail)
    assert (used[0].subject, detail["payment_id"], detail["cart_member_id"]) == (
        a["member_id"],
        payment_id,
        a["member_id"],
    )


def test_member_hints_must_be_signed_or_a_phone(shop: dict[str, Any]) -> None:
    c, k, a, b = shop["client"], shop["kiosk"], shop["a"], shop["b"]
    img = base64.b64encode(shared_path("data/faces/images/deepface__img9.jpg").read_bytes()).decode()
    bare = c.post("/api/face/verify", json={"member_hint": a["member_id"], "images_b64": [img]}, headers=k)
    assert (bare.status_code, bare.json()["error"]["code"]) == (400, "face_hint_unsigned")
    forged = a["member_code"][:-3] + ("AAA" if not a["member_code"].endswith("AAA") else "BBB")
    r = c.post("/api/face/verify", json={"member_hint": forged, "images_b64": [img]}, headers=k)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "member_code_invalid")
    signed = c.post("/api/face/verify", json={"member_hint": a["member_code"], "images_b64": [img]}, headers=k)
    assert (signed.json()["mode"], signed.json()["decision"]) == ("1:1", "match")
    wrong = c.post("/api/face/verify", json={"member_hint": b["member_code"], "images_b64": [img]}, headers=k)
    assert (wrong.json()["mode"], wrong.json()["decision"], wrong.json()["reason"]) == (
        "1:1",
        "no_match",
        "below_threshold",
    )
    # a phone narrows the candidates but proves nothing: 1:N among them, margin computed
    phone = c.post("/api/face/verify", json={"member_hint": "phone:13800001111", "images_b64": [img]}, headers=k)
    p = phone.json()
    assert (p["mode"], p["decision"], p["member_id"]) == ("1:N", "match", a["member_id"])
    assert p["margin"] is not None
    other = c.post("/api/face/verify", json={"member_hint": "phone:13900002222", "images_b64": [img]}, headers=k)
    assert (other.json()["mode"], other.json()["decision"]) == ("1:N", "no_match")
