"""A queued row paho can never publish (a wildcard in its topic) must not stop the queue:
the rows around it, and every later call, still reach a real Mosquitto subscriber."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import col, select

from edge.fitting.service import FittingService
from edge.mqtt.client import MqttClient
from edge.mqtt.relay import MqttRelay
from edge.platform.audit import AuditEvent
from edge.platform.ids import new_id
from edge.platform.mqttqueue import MqttQueued
from tests.integration.test_mqtt_relay import CALLS, Guide, _cfg, _depth
from tests.support.inproc import running_app, staff_headers
from tests.support.services import Mosquitto
from tests.support.waits import wait_for

GATES = "retail/test-store/gate/+/cmd"


def _row(topic: str, n: int) -> MqttQueued:
    """A raw queue row, as an older build or another process could have written it."""
    eid = f"evt-{n}-{new_id()}"
    return MqttQueued(event_id=eid, topic=topic, payload=json.dumps({"event_id": eid, "cmd": "open", "n": n}))


def test_unpublishable_rows_are_dropped_and_the_queue_keeps_flowing(tmp_path: Path, mosquitto: Mosquitto) -> None:
    guide = Guide(mosquitto.port, "gate-watch-1", [GATES, CALLS])
    try:
        with running_app(tmp_path / "data", _cfg(mosquitto)) as (client, daemon):
            assert daemon.ctx.own(MqttClient).wait_connected(10)
            good = "retail/test-store/gate/gate-1/cmd"
            rows = [
                _row(good, 1),
                _row("retail/test-store/gate/a+b/cmd", 2),
                _row(good, 3),
                _row("retail/test-store/gate/#/cmd", 4),
                _row(good, 5),
            ]
            bad_ids = {rows[1].event_id, rows[3].event_id}
            with daemon.ctx.store.write() as s:
                s.add_all(rows)
            daemon.ctx.own(MqttRelay).kick()

            assert guide.wait_count(lambda m: m.get("cmd") == "open", 3, timeout=10) == 3
            assert sorted(m["n"] for m in guide.received if m.get("cmd") == "open") == [1, 3, 5]

            # a guide call made afterwards still goes out at once (commit-listener path)
            tok = daemon.ctx.own(FittingService).codes.token("room-1")
            r = client.post(f"/api/fitting/rooms/{tok}/calls", json={"kind": "help", "note": "after"})
            assert r.status_code == 201
            call_id = r.json()["call"]["id"]
            assert guide.wait_for(lambda m: m.get("id") == call_id and m.get("state") == "open", timeout=10)

            # acked rows deleted, refused rows deleted too
            wait_for(lambda: _depth(daemon), 20, "the relay queue to empty", until=lambda n: n == 0)

            ready = client.get("/readyz").json()["components"]["mqtt"]
            assert ready["status"] == "ok"
            assert ready["details"]["unpublishable_dropped"] == 2
            assert "wildcard" in ready["details"]["last_unpublishable"]
            with daemon.ctx.store.read() as s:
                audited = s.exec(select(AuditEvent).where(col(AuditEvent.action) == "mqtt.unpublishable")).all()
            assert {a.subject for a in audited} == bad_ids
            assert all("/gate/" in json.loads(a.detail)["topic"] for a in audited)
    finally:
        guide.close()


def test_staff_gate_id_with_a_wildcard_is_refused_before_any_write(tmp_path: Path, mosquitto: Mosquitto) -> None:
    with running_app(tmp_path / "data", _cfg(mosquitto)) as (client, daemon):
        headers = staff_headers(daemon)
        for bad in ("a+b", "#", "gate/1", ""):
            r = client.post("/api/gate/verify", json={"text": "EP1.x.y", "gate_id": bad}, headers=headers)
            assert r.status_code == 422, (bad, r.text)
            body = r.json()
            assert body["error"]["code"] == "invalid_request"
            assert any(d["field"].endswith("gate_id") for d in body["error"]["details"])
        assert _depth(daemon) == 0
