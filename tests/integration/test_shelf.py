"""Use-by dates (GS1 AI 17) and recalls (AI 10 lots, date ranges) at the till and the fitting room:
labels rendered with zxing-cpp's encoder and read by the real decoder, through the kiosk camera
path of the real app; the recall list through the real receiver's down-sync on PostgreSQL."""

# ruff: noqa: F811 (the receiver fixtures are imported from test_sync_cloud and used as arguments)
from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import zxingcpp
from sqlalchemy import update
from sqlmodel import col, select

from edge.checkout.catalog import import_products
from edge.checkout.models import CartLine, Recall
from edge.checkout.service import CheckoutServices
from edge.checkout.shelf import apply_recalls
from edge.fitting.service import FittingService
from edge.platform import gs1, timeutil
from edge.platform.audit import AuditEvent
from edge.platform.mqttqueue import MqttQueued
from edge.platform.store import Store
from edge.platform.timeutil import store_today
from edge.scanning.codes import Code
from edge.scanning.component import make_strategy
from edge.scanning.settings import ScanningSettings
from tests.integration.test_databar import EGGS, label
from tests.integration.test_fitting_api import ROOMS, phone_headers
from tests.integration.test_sync_cloud import STORE, Receiver, cloud, db, rx  # noqa: F401 (fixtures)
from tests.integration.test_sync_downsync import _ctx, _downsync
from tests.support.inproc import device_headers, running_app, staff_headers
from tests.support.phone import go_headers

TZ = "Asia/Shanghai"  # the test store's zone (tests/support/inproc.py)
YOGURT = "0" + "695000000789"
YOGURT += gs1.check_digit(YOGURT)
TEE = "0" + "695000000999"  # a garment for the fitting room
TEE += gs1.check_digit(TEE)
PRODUCTS = [
    {"gtin": EGGS, "name": "Free-range eggs", "price_minor": 1850},
    {"gtin": YOGURT, "name": "Yogurt", "price_minor": 990, "member_price_minor": 800},
    {"gtin": TEE, "name": "Linen tee", "price_minor": 12900, "category": "fashion"},
]


@pytest.fixture(autouse=True)
def frozen_today(monkeypatch: pytest.MonkeyPatch) -> date:
    """The store's calendar held still: the labels and the daemon agree on "today" even when a run
    crosses the store's midnight (16:00 UTC for Asia/Shanghai)."""
    real = timeutil.store_today
    today = real(TZ)

    def fixed(timezone: str, now: datetime | None = None) -> date:
        return today if now is None else real(timezone, now)

    for name, module in list(sys.modules.items()):
        if name.startswith(("edge.", "tests.")) and getattr(module, "store_today", None) is real:
            monkeypatch.setattr(module, "store_today", fixed)
    return today


def _read(text: str) -> Code:
    """A GS1 DataBar Expanded Stacked label with this element string (or a QR code of this GS1
    Digital Link URI), through the real decoder."""
    if text.startswith("https://"):
        image = cv2.cvtColor(np.array(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=4)),
                             cv2.COLOR_GRAY2BGR)  # fmt: skip
        image = cv2.copyMakeBorder(image, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    else:
        image = label(zxingcpp.BarcodeFormat.DataBarExpStk, text)
    codes = make_strategy(ScanningSettings()).decode(image).codes
    assert len(codes) == 1 and codes[0].facts is not None, codes
    return codes[0]


def _yymmdd(days: int) -> str:
    return (store_today(TZ) + timedelta(days=days)).strftime("%y%m%d")


def _iso(days: int) -> str:
    return (store_today(TZ) + timedelta(days=days)).isoformat()


def _scan(client: Any, daemon: Any, kiosk: dict[str, str], sid: str, text: str) -> dict[str, Any]:
    """The kiosk camera path (a confirmed code), then the cart and any alert the kiosk shows."""
    code = _read(text)
    daemon.ctx.own(CheckoutServices).on_kiosk_scan("kiosk-1", code.text, code.facts)
    return dict(client.get(f"/api/kiosk/sessions/{sid}", headers=kiosk).json())


def _alerts(daemon: Any, kind: str) -> list[dict[str, Any]]:
    with daemon.ctx.store.read() as s:
        rows = s.exec(select(MqttQueued)).all()
    return [p for p in (json.loads(r.payload) for r in rows) if p.get("type") == f"checkout.{kind}"]


def test_an_expired_pack_is_refused_with_a_staff_alert_and_a_last_day_pack_is_marked_down(tmp_path: Path) -> None:
    with running_app(tmp_path / "data") as (client, daemon):
        assert import_products(daemon.ctx.store, PRODUCTS).accepted == 3
        kiosk = device_headers(daemon, "kiosk-1", "kiosk")
        sid = client.post("/api/kiosk/sessions", json={}, headers=kiosk).json()["session_id"]
        cart = _scan(client, daemon, kiosk, sid, f"(01){EGGS}(17){_yymmdd(-1)}(10)A1")
        assert cart["lines"] == []
        alert = _alerts(daemon, "item_expired")
        assert len(alert) == 1 and alert[0]["gtin"] == EGGS and alert[0]["session_id"] == sid
        with daemon.ctx.store.read() as s:
            assert s.exec(select(AuditEvent).where(AuditEvent.action == "checkout.item_expired")).first()
        link = f"https://id.example.com/01/{EGGS}/10/A9?17={_yymmdd(-3)}"  # a GS1 Digital Link QR code
        assert _scan(client, daemon, kiosk, sid, link)["lines"] == []
        assert [a["expired_on"] for a in _alerts(daemon, "item_expired")][-1] == _iso(-3)
        # the same item with a later date is sold: today at 30% off, two days away at full price
        cart = _scan(client, daemon, kiosk, sid, f"(01){EGGS}(17){_yymmdd(0)}(10)A2")
        cart = _scan(client, daemon, kiosk, sid, f"(01){EGGS}(17){_yymmdd(2)}(10)A3")
        lines = sorted(cart["lines"], key=lambda ln: ln["net_minor"])
        assert [(ln["gross_minor"], ln["net_minor"]) for ln in lines] == [(1850, 1295), (1850, 1850)]
        markdown = lines[0]["adjustments"][0]
        assert (markdown["kind"], markdown["amount_minor"]) == ("markdown", 555)
        assert "30% off" in markdown["reason"] and "today" in markdown["reason"]
        # a marked-down pack does not take the member price as well
        added = client.post("/api/checkout/members", json={"phone": "13900000077"}, headers=staff_headers(daemon))
        assert added.status_code == 201, added.text
        attached = client.post(f"/api/kiosk/sessions/{sid}/member", json={"phone": "13900000077"}, headers=kiosk)
        assert attached.status_code == 200 and attached.json()["member"] is not None, attached.text
        cart = _scan(client, daemon, kiosk, sid, f"(01){YOGURT}(17){_yymmdd(0)}")
        yogurt = next(ln for ln in cart["lines"] if ln["gtin"] == YOGURT)
        assert [a["kind"] for a in yogurt["adjustments"]] == ["markdown"] and yogurt["net_minor"] == 693
        # the cart waits past the store's midnight: its last-day yogurt is now expired and not sold
        with daemon.ctx.store.write() as s:
            s.run(update(CartLine).where(col(CartLine.session_id) == sid, col(CartLine.gtin) == YOGURT)
                  .values(expires_on=store_today(TZ) - timedelta(days=1)))  # fmt: skip
        pay = {"provider": "sandbox"}
        r = client.post(f"/api/kiosk/sessions/{sid}/checkout", json=pay, headers=kiosk)
        assert (r.status_code, r.json()["error"]["code"]) == (409, "item_expired"), r.text
        assert r.json()["error"]["details"]["line_ids"] == [yogurt["line_id"]]
        assert client.delete(f"/api/kiosk/sessions/{sid}/lines/{yogurt['line_id']}", headers=kiosk).status_code == 200
        r = client.post(f"/api/kiosk/sessions/{sid}/checkout", json=pay, headers=kiosk)
        assert r.status_code == 200, r.text


def test_recalled_packs_are_refused_at_the_kiosk_and_the_fitting_room(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", {"fitting": ROOMS}) as (client, daemon):
        assert import_products(daemon.ctx.store, PRODUCTS).accepted == 3
        recalls = [
            {"recall_id": "R-EGG-9", "gtin": EGGS, "lot": "LOT9", "reason": "salmonella"},
            {"recall_id": "R-YOG", "gtin": YOGURT, "date_from": _iso(-10), "date_to": _iso(60),
             "refuse_unmarked": False},
            {"recall_id": "R-TEE", "gtin": TEE, "reason": "loose buttons (choking hazard)"},
        ]  # fmt: skip
        assert apply_recalls(daemon.ctx.store, 7, recalls) == 3
        ready = client.get("/readyz").json()["components"]["checkout"]["details"]["recalls"]
        assert (ready["version"], ready["entries"]) == (7, 3)
        kiosk = device_headers(daemon, "kiosk-1", "kiosk")
        sid = client.post("/api/kiosk/sessions", json={}, headers=kiosk).json()["session_id"]
        far = _yymmdd(400)  # a use-by date well after the recall window
        units = 0
        for text, sold in [
            (f"(01){EGGS}(17){far}(10)LOT9", False),  # the recalled lot
            (f"(01){EGGS}(17){far}(10)LOT1", True),  # another lot
            (f"(01){EGGS}(17){far}", False),  # no lot on the label: cannot be told apart, refused
            (f"(01){YOGURT}(17){_yymmdd(30)}(10)Y1", False),  # dated inside the recall window
            (f"(01){YOGURT}(17){far}(10)Y2", True),  # dated after it
            (f"(01){YOGURT}(11){_yymmdd(-1)}(17){far}(10)Y3", False),  # produced inside it, use-by after
        ]:
            now = sum(ln["qty"] for ln in _scan(client, daemon, kiosk, sid, text)["lines"])
            assert now == units + sold, text
            units = now
        assert {a["recall_id"] for a in _alerts(daemon, "item_recalled")} == {"R-EGG-9", "R-YOG"}
        typed = client.post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEE[1:]}, headers=kiosk)
        assert (typed.status_code, typed.json()["error"]["code"]) == (422, "item_recalled")
        assert typed.json()["error"]["details"]["recall_id"] == "R-TEE"
        # a recall that arrives while a pack is in the cart stops its sale at payment
        assert (
            apply_recalls(daemon.ctx.store, 8, [*recalls, {"recall_id": "R-EGG-ALL", "gtin": EGGS, "lot": None}]) == 4
        )
        r = client.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=kiosk)
        assert (r.status_code, r.json()["error"]["code"]) == (409, "item_recalled"), r.text
        assert r.json()["error"]["details"]["recall_id"] == "R-EGG-ALL"  # a null lot is every lot
        token = daemon.ctx.own(FittingService).codes.token("room-1")
        r = client.post(f"/api/fitting/rooms/{token}/items", json={"code": TEE}, headers=phone_headers(client, token))
        assert (r.status_code, r.json()["error"]["code"]) == (422, "item_recalled"), r.text
        assert "choking" in r.json()["error"]["details"]["reason"]
        guide = device_headers(daemon, "guide-1", "guide")
        notes = [c["note"] for c in client.get("/api/fitting/calls", headers=guide).json()]
        assert any("Recalled item in this room: Linen tee" in n for n in notes), notes  # a guide takes it back


def test_a_recall_list_version_applies_whole_or_not_at_all(rx: Receiver, tmp_path: Path, db: Store) -> None:
    ds = _downsync(_ctx(tmp_path, db, rx.url))
    ds.poll()  # skip versions other tests published
    good = [{"recall_id": f"R{i}", "gtin": EGGS, "lot": f"L{i}"} for i in range(500)]
    rx.publish("recalls", good, store_id=STORE)
    assert ds.poll() == 1
    bad = [{"recall_id": "N1", "gtin": YOGURT}, {"recall_id": "N2", "gtin": "123"}]  # a bad GTIN
    rx.publish("recalls", bad, store_id=STORE)
    assert ds.poll() == 0
    refused = ds.status()["last_refused"]
    assert refused["kind"] == "recalls" and "entry 2" in refused["reason"]
    with db.read() as s:
        assert len(s.exec(select(Recall)).all()) == 500, "a refused version must leave the old list whole"
    ds.http.close()


def test_the_phone_refuses_expired_and_recalled_packs_and_marks_down_the_last_day(tmp_path: Path) -> None:
    """The same rules through the shopper's phone: its camera frames, decoded by the box."""
    with running_app(tmp_path / "data") as (client, daemon):
        assert import_products(daemon.ctx.store, PRODUCTS).accepted == 3
        assert apply_recalls(daemon.ctx.store, 3, [{"recall_id": "R-EGG-9", "gtin": EGGS, "lot": "LOT9"}]) == 1
        phone = go_headers(client, daemon)
        sid = client.get("/api/go/state", headers=phone).json()["cart"]["session_id"]

        def shown(text: str, t0: float) -> list[dict[str, Any]]:
            if text.startswith("https://"):
                qr = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=4)
                image = cv2.copyMakeBorder(np.array(qr), 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
            else:
                image = label(zxingcpp.BarcodeFormat.DataBarExpStk, text)
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            assert ok
            reads = []
            for i in range(3):
                h = {
                    **phone,
                    "Content-Type": "image/jpeg",
                    "X-Frame-Id": f"{t0}-{i}",
                    "X-Frame-Time": str(t0 + i * 250),
                }
                r = client.post(f"/api/go/carts/{sid}/frames", content=jpeg.tobytes(), headers=h)
                assert r.status_code == 200, r.text
                reads += r.json()["reads"]
            assert len(reads) == 1, reads
            return reads

        expired = shown(f"(01){EGGS}(17){_yymmdd(-1)}(10)A1", 1000)[0]
        assert not expired["ok"] and expired["code"] == "item_expired" and expired["name"] == "Free-range eggs"
        alert = _alerts(daemon, "item_expired")[-1]
        assert alert["session_id"] == sid and alert["kiosk_id"].startswith("phone-"), "staff hear of it"
        link = f"https://id.example.com/01/{EGGS}/10/A9?17={_yymmdd(-3)}"
        assert shown(link, 5000)[0]["code"] == "item_expired"
        recalled = shown(f"(01){EGGS}(17){_yymmdd(400)}(10)LOT9", 9000)[0]
        assert recalled["code"] == "item_recalled" and _alerts(daemon, "item_recalled")[-1]["recall_id"] == "R-EGG-9"
        assert shown(f"(01){EGGS}(17){_yymmdd(0)}(10)A2", 13000)[0]["result"] == "added"
        line = client.get("/api/go/state", headers=phone).json()["cart"]["lines"][0]
        assert (line["gross_minor"], line["net_minor"]) == (1850, 1295), "30% off on the last day"
        assert line["adjustments"][0]["kind"] == "markdown"


def test_refused_packs_become_one_pull_task_per_cart_on_the_handhelds(tmp_path: Path) -> None:
    """Staff are asked to take a refused pack off sale in their queue, not only told on MQTT."""
    with running_app(tmp_path / "data") as (client, daemon):
        assert import_products(daemon.ctx.store, PRODUCTS).accepted == 3
        recall = {"recall_id": "R-EGG-9", "gtin": EGGS, "lot": "LOT9", "reason": "salmonella"}
        assert apply_recalls(daemon.ctx.store, 3, [recall]) == 1
        kiosk = device_headers(daemon, "kiosk-1", "kiosk")
        guide = device_headers(daemon, "guide-1", "guide")
        sid = client.post("/api/kiosk/sessions", json={}, headers=kiosk).json()["session_id"]
        for text in (
            f"(01){EGGS}(17){_yymmdd(-1)}(10)A1",
            f"(01){EGGS}(17){_yymmdd(400)}(10)LOT9",
            f"(01){EGGS}(17){_yymmdd(-1)}(10)A1",  # the same pack again: the task already names it
        ):
            assert _scan(client, daemon, kiosk, sid, text)["lines"] == []

        def pulls() -> list[dict[str, Any]]:
            listed = client.get("/api/staff/tasks", headers=guide).json()
            return [t for t in listed if t["kind"] == "pack_pull"]

        [task] = pulls()
        assert (task["place"], task["session_id"], task["state"]) == ("kiosk-1", sid, "open")
        packs = [(p["code"], p.get("expired_on"), p.get("recall_id"), p["name"]) for p in task["detail"]["packs"]]
        assert packs == [
            ("item_expired", _iso(-1), None, "Free-range eggs"),
            ("item_recalled", None, "R-EGG-9", "Free-range eggs"),
        ]
        with daemon.ctx.store.read() as s:
            queued = [json.loads(r.payload) for r in s.exec(select(MqttQueued)).all()]
        announced = [m for m in queued if m.get("type") == "staff.task" and m["id"] == task["id"]]
        assert [len(m["detail"]["packs"]) for m in announced] == [1, 2], "the handhelds hear each pack"
        wrong = client.post(f"/api/staff/tasks/{task['id']}/resolve", json={"outcome": "helped"}, headers=guide)
        assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "bad_outcome")
        done = client.post(f"/api/staff/tasks/{task['id']}/resolve", json={"outcome": "taken"}, headers=guide)
        assert done.status_code == 200 and done.json()["state"] == "done", done.text
        assert pulls() == []
        _scan(client, daemon, kiosk, sid, f"(01){EGGS}(17){_yymmdd(-2)}(10)A5")  # another expired pack
        assert [t["detail"]["packs"][0]["expired_on"] for t in pulls()] == [_iso(-2)], "a new task once answered"

        # a phone types the label line; its answer is lost, the task answered, then the same scan resent
        phone = go_headers(client, daemon)
        psid = client.get("/api/go/state", headers=phone).json()["cart"]["session_id"]
        typed = {"code": f"(01) {EGGS} (17) {_yymmdd(-1)} (10) A1", "scan_id": "typed-resent-1"}
        first = client.post(f"/api/go/carts/{psid}/items", json=typed, headers=phone)
        assert (first.status_code, first.json()["error"]["code"]) == (422, "item_expired"), first.text
        assert first.json()["error"]["details"]["name"] == "Free-range eggs", "the page names the pack"
        [ptask] = [t for t in pulls() if t["session_id"] == psid]
        shown = client.post(f"/api/staff/tasks/{ptask['id']}/claim", headers=guide).json()["version"]
        recalled = {"code": f"(01){EGGS}(17){_yymmdd(400)}(10)LOT9", "scan_id": "typed-recalled-1"}
        assert client.post(f"/api/go/carts/{psid}/items", json=recalled, headers=phone).status_code == 422
        answer = {"outcome": "taken", "version": shown}  # given on the screen from before the pack joined
        stale = client.post(f"/api/staff/tasks/{ptask['id']}/resolve", json=answer, headers=guide)
        assert (stale.status_code, stale.json()["error"]["code"]) == (409, "task_changed"), stale.text
        now = stale.json()["error"]["details"]["version"]
        taken = client.post(f"/api/staff/tasks/{ptask['id']}/resolve", json={**answer, "version": now}, headers=guide)
        assert taken.status_code == 200 and len(taken.json()["detail"]["packs"]) == 2, taken.text
        heard = len([a for a in _alerts(daemon, "item_expired") if a["session_id"] == psid])
        again = client.post(f"/api/go/carts/{psid}/items", json=typed, headers=phone)
        assert again.json()["error"]["code"] == "item_expired", "the resend is answered as before"
        assert [t for t in pulls() if t["session_id"] == psid] == [], "a resent scan is not a second pack"
        assert len([a for a in _alerts(daemon, "item_expired") if a["session_id"] == psid]) == heard == 1
