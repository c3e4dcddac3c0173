"""Scan-and-go on the phone through HTTP on the real app: the entry code, the phone's cookie, frames
decoded by the box, exactly-once scans, limits, hostile input, paying and leaving through the gate."""

from __future__ import annotations

import io
import json
import struct
import uuid
import zlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
import segno
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from edge.checkout.catalog import import_products
from edge.checkout.models import ExitPass
from edge.demo.catalog import RICE_WINE, demo_rows
from edge.demo.gtins import GROCERY
from edge.demo.media import background, place, product_pack
from edge.phone.service import PhoneService
from edge.platform.mqttqueue import MqttQueued
from tests.support.inproc import device_headers, running_app, staff_headers
from tests.support.phone import entry_code, go_headers

TEA, MILK, WATER = GROCERY[0][0], GROCERY[1][0], GROCERY[2][0]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    cfg = {"phone": {"adds_per_minute": 60, "frames_per_s": 50}}
    with running_app(Path(tmp_path_factory.mktemp("phone")) / "data", cfg) as (client, daemon):
        assert not import_products(daemon.ctx.store, demo_rows("CNY")).refused
        yield {
            "c": client,
            "d": daemon,
            "staff": staff_headers(daemon),
            "gate": device_headers(daemon, "gate-1", "gate"),
        }


def phone(shop: dict[str, Any]) -> tuple[dict[str, str], str]:
    """A new phone through the entry page, and its cart's id."""
    h = go_headers(shop["c"], shop["d"])
    return h, shop["c"].get("/api/go/state", headers=h).json()["cart"]["session_id"]


def jpeg(frame: np.ndarray, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def pack_frame(gtin: str, seed: int = 3) -> bytes:
    """A phone's centre crop of a pack on a shelf, as the page sends it."""
    return jpeg(place(background((640, 384), seed), product_pack(gtin, "pack", (40, 90, 170)), 120, 60))


def qr_frame(text: str) -> bytes:
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=5, border=4)
    qr = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    assert qr is not None
    frame = np.full((384, 640, 3), 235, np.uint8)
    frame[20 : 20 + qr.shape[0], 150 : 150 + qr.shape[1]] = qr
    return jpeg(frame, 90)


def send(shop: dict[str, Any], h: dict[str, str], sid: str, data: bytes, n: int, t0: float = 1000) -> Any:
    out = []
    for i in range(n):
        headers = {**h, "Content-Type": "image/jpeg", "X-Frame-Id": uuid.uuid4().hex, "X-Frame-Time": str(t0 + i * 250)}
        r = shop["c"].post(f"/api/go/carts/{sid}/frames", content=data, headers=headers)
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


def lines(shop: dict[str, Any], h: dict[str, str]) -> dict[str, int]:
    cart = shop["c"].get("/api/go/state", headers=h).json()["cart"]
    return {line["gtin"]: line["qty"] for line in cart["lines"]}


def test_the_entry_code_opens_a_cart_only_when_genuine_and_of_today(shop: dict[str, Any]) -> None:
    c, d = shop["c"], shop["d"]
    c.cookies.clear()
    r = c.get(f"/go/{entry_code(d)}")
    assert r.status_code == 200 and "re_go" in r.cookies
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    c.cookies.clear()
    entry = d.ctx.own(PhoneService).entry
    today = entry.today()
    forged = entry_code(d)[:-4] + ("AAAA" if not entry_code(d).endswith("AAAA") else "BBBB")
    for code, why in ((forged, "bad_entry_code"), ("k9.eyJzIjoieCJ9.AAAAAAAAAAAAAAAAAAAAAA", "bad_entry_code")):
        r = c.get(f"/go/{code}")
        assert r.status_code == 403 and "re_go" not in r.cookies, why
        assert "scan the QR code at the store entrance" in r.text and "<link rel=stylesheet" in r.text
    old = entry.code(today - timedelta(days=2))
    r = c.get(f"/go/{old}")
    assert r.status_code == 403 and "another day" in r.text
    # yesterday's code still opens a cart in the small hours (shoppers inside at midnight), not at noon
    small_hours = datetime.combine(today, datetime.min.time(), ZoneInfo("Asia/Shanghai")) + timedelta(hours=1)
    entry.verify(entry.code(today - timedelta(days=1)), now=small_hours)
    with pytest.raises(Exception, match="another day"):
        entry.verify(entry.code(today - timedelta(days=1)), now=small_hours + timedelta(hours=11))
    assert isinstance(today, date)
    # without the cookie the API says what to do
    r = c.get("/api/go/state")
    assert r.status_code == 401 and r.json()["error"]["code"] == "no_phone_session"


def _phone_frames_with_codes(shop: dict[str, Any]) -> float:
    """The daemon's /metrics figure, which the decoder process counts and the daemon mirrors."""
    text = shop["c"].get("/metrics").text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "edge_scanning_frames_total" and s.labels == {"camera": "phone", "outcome": "codes"}:
                return s.value
    return 0.0


def test_frames_add_each_code_once_and_a_resent_frame_adds_nothing(shop: dict[str, Any]) -> None:
    h, sid = phone(shop)
    counted = _phone_frames_with_codes(shop)
    answers = send(shop, h, sid, pack_frame(TEA), 6)
    assert _phone_frames_with_codes(shop) == counted + 6, "the decoder process's counters reach /metrics"
    added = [read for a in answers for read in a["reads"] if read.get("result") == "added"]
    assert len(added) == 1 and added[0]["item"]["gtin"] == "0" + TEA
    assert all(a["seen"] == 1 for a in answers), "every frame of the pack decoded"
    assert lines(shop, h) == {"0" + TEA: 1}, "a code held in view adds once"
    # the same frame id again (its answer was lost): nothing new
    headers = {**h, "Content-Type": "image/jpeg", "X-Frame-Id": "resent-1", "X-Frame-Time": "9000"}
    empty = jpeg(background((640, 384), 5))
    for _ in range(2):
        r = shop["c"].post(f"/api/go/carts/{sid}/frames", content=empty, headers=headers)
        assert r.status_code == 200 and r.json()["reads"] == []
    # taken away and shown again: a second unit, as at a kiosk
    send(shop, h, sid, empty, 3, t0=10_000)
    send(shop, h, sid, pack_frame(TEA), 3, t0=12_000)
    assert lines(shop, h) == {"0" + TEA: 2}


def test_typed_scans_are_exactly_once_per_scan_id(shop: dict[str, Any]) -> None:
    c = shop["c"]
    h, sid = phone(shop)
    for _ in range(3):  # the queue replayed after the Wi-Fi came back
        r = c.post(f"/api/go/carts/{sid}/items", json={"code": MILK, "scan_id": "typed-000001"}, headers=h)
        assert r.status_code == 201
    assert r.json()["added"]["source"] == "duplicate"
    c.post(f"/api/go/carts/{sid}/items", json={"code": MILK, "scan_id": "typed-000002"}, headers=h)
    assert lines(shop, h) == {"0" + MILK: 2}
    r = c.post(f"/api/go/carts/{sid}/items", json={"code": "12345", "scan_id": "typed-000003"}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] in ("invalid_gtin", "bad_check_digit")


def test_a_cart_answers_only_to_its_phone(shop: dict[str, Any]) -> None:
    c = shop["c"]
    h1, sid1 = phone(shop)
    h2, _ = phone(shop)
    r = c.post(f"/api/go/carts/{sid1}/items", json={"code": TEA, "scan_id": "other-phone-1"}, headers=h2)
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_phone"
    r = c.post(f"/api/go/carts/{sid1}/frames", content=pack_frame(TEA), headers={**h2, "Content-Type": "image/jpeg"})
    assert r.status_code in (200, 403)
    assert lines(shop, h1) == {}
    # a kiosk cannot reach it either (its device token is not the phone's cookie)
    kiosk = device_headers(shop["d"], "kiosk-9", "kiosk")
    assert c.get(f"/api/kiosk/sessions/{sid1}", headers=kiosk).status_code == 403


def test_a_thousand_scans_a_minute_meet_a_limit_with_a_clear_message(shop: dict[str, Any]) -> None:
    c = shop["c"]
    h, sid = phone(shop)
    codes = []
    for i in range(1000):
        r = c.post(f"/api/go/carts/{sid}/items", json={"code": TEA, "scan_id": f"flood-{i:06d}"}, headers=h)
        codes.append(r.status_code)
        if r.status_code == 429:
            err = r.json()["error"]
            assert err["code"] == "too_many_scans" and "wait a moment" in err["message"]
            assert err["details"]["retry_after_s"] > 0
            break
    assert codes[-1] == 429 and len(codes) <= 25, "the burst is a third of a minute's allowance"
    assert lines(shop, h) == {"0" + TEA: len(codes) - 1}


def test_bad_frames_get_typed_answers_and_hostile_qr_text_stays_text(shop: dict[str, Any]) -> None:
    c = shop["c"]
    h, sid = phone(shop)
    url = f"/api/go/carts/{sid}/frames"
    hj = {**h, "Content-Type": "image/jpeg"}
    assert c.post(url, content=b"GIF89a not a frame", headers=hj).json()["error"]["code"] == "image_unsupported"
    assert c.post(url, content=b"", headers=hj).json()["error"]["code"] == "image_empty"
    noise = jpeg(np.random.default_rng(1).integers(0, 255, (1200, 1600), dtype=np.uint8), 95)
    assert len(noise) > 500_000
    r = c.post(url, content=noise, headers=hj)
    assert r.status_code == 413, "more bytes than a phone frame needs"
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    r = c.post(url, content=bomb, headers=hj)
    assert r.status_code == 413 and r.json()["error"]["code"] == "image_too_large", "refused from its header"
    r = c.post(url, content=b"\xff\xd8" + b"\x00" * 100, headers=hj)
    assert r.status_code == 422 and r.json()["error"]["code"] == "image_undecodable"
    bad_header = {**hj, "X-Frame-Time": "not a number"}
    assert c.post(url, content=pack_frame(TEA), headers=bad_header).status_code == 422
    nothing = send(shop, h, sid, jpeg(background((640, 384), 9)), 2)
    assert all(a["reads"] == [] and a["seen"] == 0 for a in nothing)
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    reads = [read for a in send(shop, h, sid, qr_frame(hostile), 3) for read in a["reads"]]
    assert reads and reads[0]["ok"] is False and reads[0]["text"] == hostile, "returned as data, never as markup"
    assert reads[0]["code"] in ("invalid_gtin", "bad_check_digit")
    assert lines(shop, h) == {}


def test_member_coupon_pay_pass_and_gate(shop: dict[str, Any]) -> None:
    c, staff = shop["c"], shop["staff"]
    h, sid = phone(shop)
    member = c.post("/api/checkout/members", json={"phone": "13900139000", "name": "Wen"}, headers=staff).json()
    until = (datetime.now(ZoneInfo("UTC")) + timedelta(days=1)).replace(tzinfo=None).isoformat()
    coupon = c.post(
        "/api/checkout/coupons", json={"kind": "percent", "value": 10, "valid_to": until}, headers=staff
    ).json()["codes"][0]
    send(shop, h, sid, pack_frame(TEA), 3)
    reads = [read for a in send(shop, h, sid, qr_frame(member["member_code"]), 3, t0=5000) for read in a["reads"]]
    assert reads[0]["result"] == "member"
    cart = c.post(f"/api/go/carts/{sid}/coupons", json={"code": coupon}, headers=h).json()
    assert cart["member"]["via"] == "code" and any(a["kind"] == "coupon" for a in cart["order_discounts"])
    state = c.get("/api/go/state", headers=h).json()
    assert state["pay_options"] == ["sandbox"] and state["last_order"] is None
    total = state["cart"]["total_minor"]
    r = c.post(f"/api/go/carts/{sid}/pay", json={"method": "sandbox", "expected_total_minor": total + 1}, headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "cart_changed"
    r = c.post(f"/api/go/carts/{sid}/pay", json={"method": "sandbox", "expected_total_minor": total}, headers=h)
    assert r.status_code == 201 and r.json()["status"] == "paid"
    order = r.json()["order"]
    svg = c.get(f"/api/go/orders/{order['order_id']}/pass.svg", headers=h)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    other, _ = phone(shop)
    assert c.get(f"/api/go/orders/{order['order_id']}/pass.svg", headers=other).status_code == 404, (
        "not even its existence"
    )
    # a reload shows the pass with a new, empty cart
    state = c.get("/api/go/state", headers=h).json()
    assert state["last_order"]["exit_pass"] == order["exit_pass"] and state["cart"]["lines"] == []
    gate = c.post("/api/gate/verify", json={"text": order["exit_pass"]}, headers=shop["gate"])
    assert gate.status_code == 200 and gate.json()["open"] is True
    assert c.post("/api/gate/verify", json={"text": order["exit_pass"]}, headers=shop["gate"]).status_code == 409
    assert c.get("/api/go/state", headers=h).json()["last_order"] is None, "a used pass is not shown again"


def test_an_age_restricted_item_calls_staff_and_holds_payment(shop: dict[str, Any]) -> None:
    c = shop["c"]
    h, sid = phone(shop)
    r = c.post(f"/api/go/carts/{sid}/items", json={"code": RICE_WINE, "scan_id": "wine-000001"}, headers=h)
    assert r.json()["alerts"][0]["code"] == "age_check_required"
    owner = r.json()["cart"]["kiosk_id"]
    with shop["d"].ctx.store.read() as s:
        topics = [m.topic for m in s.exec(select(MqttQueued)) if json.loads(m.payload).get("session_id") == sid]
    assert sorted(topics) == [f"retail/test-store/checkout/{owner}/alert", "retail/test-store/staff/task"], (
        "the staff handhelds hear of it durably: the alert, and an ID-check task in their queue"
    )
    r = c.post(f"/api/go/carts/{sid}/pay", json={"method": "sandbox"}, headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "age_check_required"
    assert c.post(f"/api/checkout/sessions/{sid}/age-check", headers=shop["staff"]).json()["age_check"] == "done"
    assert c.post(f"/api/go/carts/{sid}/pay", json={"method": "sandbox"}, headers=h).status_code == 201


def test_risky_baskets_are_flagged_and_the_rescan_list_reaches_staff(shop: dict[str, Any]) -> None:
    c = shop["c"]
    h, sid = phone(shop)
    # no member, on a phone (20 + 20), age-restricted (30), a large basket (40): 110 >= 100
    c.post(f"/api/go/carts/{sid}/items", json={"code": RICE_WINE, "qty": 12, "scan_id": "risk-000001"}, headers=h)
    c.post(f"/api/checkout/sessions/{sid}/age-check", headers=shop["staff"])
    order = c.post(f"/api/go/carts/{sid}/pay", json={"method": "sandbox"}, headers=h).json()["order"]
    with shop["d"].ctx.store.read() as s:
        xp = s.exec(select(ExitPass).where(ExitPass.order_id == order["order_id"])).one()
    assert xp.audit_flag and {"phone", "no_member", "restricted", "value"} <= set(xp.audit_reasons.split(","))
    gate = c.post("/api/gate/verify", json={"text": order["exit_pass"]}, headers=shop["gate"]).json()
    assert gate["audit"] is True
    with shop["d"].ctx.store.read() as s:
        msgs = [json.loads(m.payload) for m in s.exec(select(MqttQueued))]
    rescan = [m for m in msgs if m.get("type") == "checkout.exit_audit" and m["order_id"] == order["order_id"]]
    assert rescan and rescan[0]["items"] == [{"gtin": "0" + RICE_WINE, "name": "Rice wine 500 ml", "qty": 12}]
    # staff record what they found; a second answer is refused, a waved pass needs a reason
    url = f"/api/checkout/orders/{order['order_id']}/exit-audit"
    r = c.post(url, json={"result": "waved"}, headers=shop["staff"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "reason_required"
    r = c.post(url, json={"result": "mismatch", "missing": [{"gtin": "0" + TEA, "qty": 1}]}, headers=shop["staff"])
    assert r.status_code == 201
    assert c.post(url, json={"result": "match"}, headers=shop["staff"]).json()["error"]["code"] == "audit_recorded"
