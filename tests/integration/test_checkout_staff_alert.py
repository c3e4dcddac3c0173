"""An age-restricted item flags staff, not just the kiosk: the floor manager's handheld hears it
on a real broker, once per item, and the store's audit log keeps it."""

from __future__ import annotations

from pathlib import Path

from edge.demo.gtins import GROCERY
from edge.mqtt.client import MqttClient
from tests.integration.test_checkout_gaps import _shop, audit_rows
from tests.integration.test_mqtt_relay import Guide
from tests.support.inproc import running_app
from tests.support.services import Mosquitto

TEA, WINE = GROCERY[0][0], GROCERY[5][0]  # rice wine is age-restricted in the demo catalog
ALERTS = "retail/test-store/checkout/+/alert"


def test_an_age_restricted_item_reaches_the_floor_manager_once(tmp_path: Path, mosquitto: Mosquitto) -> None:
    manager = Guide(mosquitto.port, "manager-handheld", [ALERTS])
    cfg = {"mqtt": {"url": mosquitto.url, "relay_poll_s": 0.2}}
    try:
        with running_app(tmp_path / "data", cfg) as (client, daemon):
            st = _shop(client, daemon)
            assert daemon.ctx.own(MqttClient).wait_connected(10)
            sid = client.post("/api/kiosk/sessions", json={}, headers=st["kiosk"]).json()["session_id"]
            for code in (TEA, WINE, WINE):  # the second bottle is the same line: no second alert
                r = client.post(f"/api/kiosk/sessions/{sid}/items", json={"code": code}, headers=st["kiosk"])
                assert r.status_code == 201, r.text
            assert r.json()["alerts"][0]["code"] == "age_check_required"  # the kiosk is told too

            got = manager.wait_for(lambda m: m.get("session_id") == sid)
            assert len(got) == 1, got
            alert = got[0]
            assert alert["_topic"] == "retail/test-store/checkout/kiosk-g1/alert"
            assert alert["type"] == "checkout.age_check" and alert["kiosk_id"] == "kiosk-g1"
            assert alert["name"] == GROCERY[5][1] and alert["gtin"] == WINE.zfill(14) and alert["event_id"]
            [row] = audit_rows(st, "checkout.age_check_needed", subject=sid)
            assert row.actor == "device:kiosk-g1"

            # once staff have checked the ID, the item scanned again as a new line raises nothing
            assert client.post(f"/api/checkout/sessions/{sid}/age-check", headers=st["staff"]).status_code == 200
            [wine] = [ln for ln in r.json()["cart"]["lines"] if ln["gtin"] == WINE.zfill(14)]
            gone = client.delete(f"/api/kiosk/sessions/{sid}/lines/{wine['line_id']}", headers=st["kiosk"])
            assert gone.status_code == 200
            more = client.post(f"/api/kiosk/sessions/{sid}/items", json={"code": WINE}, headers=st["kiosk"])
            assert more.status_code == 201 and more.json()["alerts"] == []
            # The next shopper's wine at the same kiosk raises an alert on the same topic, queued
            # after anything the rescan could have raised: once it is here, so would that be.
            nxt = client.post("/api/kiosk/sessions", json={}, headers=st["kiosk"]).json()["session_id"]
            r = client.post(f"/api/kiosk/sessions/{nxt}/items", json={"code": WINE}, headers=st["kiosk"])
            assert r.status_code == 201 and r.json()["alerts"][0]["code"] == "age_check_required"
            assert manager.wait_for(lambda m: m.get("session_id") == nxt)
            assert sum(1 for _topic, body in manager.raw if sid.encode() in body) == 1
    finally:
        manager.close()
