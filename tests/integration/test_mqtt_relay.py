"""The durable relay against a real Mosquitto: calls reach guides, claims come back, and
nothing is lost across broker restarts."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlmodel import func, select

from edge.fitting.service import FittingService
from edge.mqtt.client import MqttClient
from edge.platform.mqttqueue import MqttQueued
from tests.support.inproc import device_headers, running_app
from tests.support.services import Mosquitto
from tests.support.waits import wait_for


# A guide handheld: a real paho client with a persistent session that dedupes by event_id.
# Constructed, it has its SUBACKs: the broker routes to it whatever is published from then on.
class Guide:
    def __init__(
        self,
        port: int,
        client_id: str,
        topics: list[str],
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.received: list[dict[str, Any]] = []  # after dedupe by event_id
        self.raw: list[tuple[str, bytes]] = []
        self.seen: set[str] = set()
        self.redeliveries = 0
        self.cond = threading.Condition()
        self.topics = topics
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # every topic's SUBACK came since the last CONNACK
        self.granted: dict[str, list[Any]] = {}  # topic -> reason codes of its last SUBACK
        self._pending: dict[int, str] = {}  # SUBSCRIBE mid -> topic, until its SUBACK
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username:
            c.username_pw_set(username, password)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_disconnect = self._on_disconnect
        c.reconnect_delay_set(0.2, 1)  # type: ignore[arg-type]  # paho takes float seconds
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        c.connect_async("127.0.0.1", port, keepalive=10, clean_start=False, properties=props)
        c.loop_start()
        self.client = c
        assert self.subscribed.wait(10), f"guide could not connect and subscribe (SUBACKs: {self.granted})"

    # paho calls these on its network thread, one at a time: a SUBACK is handled only after the
    # on_connect that sent its SUBSCRIBE has returned.
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: Any, _p: object) -> None:
        if rc.is_failure:
            return
        self.subscribed.clear()
        self._pending = {}
        for t in self.topics:
            _rc, mid = client.subscribe(t, qos=1)
            assert mid is not None, f"paho did not send SUBSCRIBE {t}"
            self._pending[mid] = t
        self.connected.set()

    def _on_subscribe(self, _c: mqtt.Client, _u: object, mid: int, reason_codes: list[Any], _p: object) -> None:
        topic = self._pending.pop(mid, None)
        if topic is not None:
            self.granted[topic] = list(reason_codes)
        if not self._pending:
            self.subscribed.set()

    def _on_disconnect(self, *_a: object) -> None:
        self.connected.clear()
        self.subscribed.clear()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.raw.append((msg.topic, bytes(msg.payload)))
            try:
                data = json.loads(msg.payload)
            except ValueError:
                data = {"_text": msg.payload.decode(errors="replace")}
            eid = data.get("event_id") if isinstance(data, dict) else None
            if eid and eid in self.seen:
                self.redeliveries += 1
                return
            if eid:
                self.seen.add(eid)
            data["_topic"] = msg.topic
            self.received.append(data)
            self.cond.notify_all()

    def wait_for(self, pred: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [m for m in self.received if pred(m)]
                if hits:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self.cond.wait(left)

    def wait_count(self, pred: Any, n: int, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                count = sum(1 for m in self.received if pred(m))
                if count >= n or time.monotonic() >= deadline:
                    return count
                self.cond.wait(max(0.01, deadline - time.monotonic()))

    def publish(self, topic: str, payload: dict[str, Any] | str, qos: int = 1) -> mqtt.MQTTMessageInfo:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return self.client.publish(topic, body, qos=qos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


ROOMS = {"rooms": [{"id": "room-1", "name": "Room 1", "zone": "women"}, {"id": "room-2", "zone": "men"}]}
CALLS = "retail/test-store/fitting/+/call"


def _cfg(broker: Mosquitto) -> dict:
    return {
        # one test client posts every call: the per-phone and per-address limits are not under test here
        "fitting": {**ROOMS, "calls_per_phone_per_minute": 1000, "active_calls_per_room": 1000,
                    "calls_per_address_per_minute": 1000, "active_calls_per_phone": 1000,
                    "active_calls_per_address": 1000},
        "mqtt": {"url": broker.url, "relay_poll_s": 0.2},
    }  # fmt: skip


def _depth(daemon) -> int:  # type: ignore[no-untyped-def]
    with daemon.ctx.store.read() as s:
        return int(s.exec(select(func.count()).select_from(MqttQueued)).one())


def test_call_reaches_guide_and_mqtt_claim_flows_back(tmp_path: Path, mosquitto: Mosquitto) -> None:
    guide = Guide(mosquitto.port, "guide-hh-1", [CALLS])
    try:
        with running_app(tmp_path / "data", _cfg(mosquitto)) as (client, daemon):
            assert daemon.ctx.own(MqttClient).wait_connected(10)
            tok = daemon.ctx.own(FittingService).codes.token("room-1")
            token = device_headers(daemon, "guide-1", "guide")["Authorization"][7:]
            r = client.post(f"/api/fitting/rooms/{tok}/calls", json={"kind": "help", "note": "zip"})
            call_id = r.json()["call"]["id"]
            got = guide.wait_for(lambda m: m.get("call_id") == call_id or m.get("id") == call_id)
            assert got and got[0]["state"] == "open" and got[0]["_topic"] == "retail/test-store/fitting/room-1/call"
            assert got[0]["note"] == "zip" and got[0]["event_id"]

            claim = {
                "event_id": "evt-claim-0001",
                "call_id": call_id,
                "action": "claim",
                "device_token": token,
            }
            for _ in range(2):  # a QoS 1 redelivery of the same claim is a no-op
                guide.publish("retail/test-store/fitting/room-1/claim", claim).wait_for_publish(5)
            claimed = guide.wait_for(lambda m: m.get("id") == call_id and m.get("state") == "claimed")
            assert claimed and claimed[0]["guide_id"] == "guide-1"
            view = client.get(f"/api/fitting/rooms/{tok}").json()
            assert view["calls"][0]["state"] == "claimed" and view["calls"][0]["version"] == 2

            # a forged token or a kiosk token cannot resolve it
            kiosk = device_headers(daemon, "kiosk-1", "kiosk")["Authorization"][7:]
            for bad in ("dev_forged", kiosk):
                guide.publish(
                    "retail/test-store/fitting/room-1/claim",
                    dict(claim, event_id=f"evt-bad-{bad[-6:]}", action="resolve", device_token=bad),
                )
            guide.publish("retail/test-store/fitting/room-1/claim", "not json")
            resolve = dict(claim, event_id="evt-resolve-01", action="resolve")
            guide.publish("retail/test-store/fitting/room-1/claim", resolve)
            done = guide.wait_for(lambda m: m.get("id") == call_id and m.get("state") == "resolved")
            assert done and done[0]["version"] == 3  # nothing in between: the bad messages changed nothing
            # every queued row is deleted once its PUBACK comes
            wait_for(lambda: _depth(daemon), 10, "the relay queue to empty", until=lambda n: n == 0)
            # applied claim ids are kept for dedupe, then pruned (claim + resolve here)
            assert daemon.ctx.own(FittingService).calls.prune_inbound(keep_days=0) == 2
    finally:
        guide.close()


def test_broker_restart_loses_no_call(tmp_path: Path, mosquitto: Mosquitto) -> None:
    guide = Guide(mosquitto.port, "guide-hh-2", [CALLS])
    try:
        with running_app(tmp_path / "data", _cfg(mosquitto)) as (client, daemon):
            assert daemon.ctx.own(MqttClient).wait_connected(10)
            tok = daemon.ctx.own(FittingService).codes.token("room-2")
            ids = []
            for i in range(30):
                if i == 10:
                    mosquitto.stop()
                if i == 20:
                    mosquitto.start()
                r = client.post(f"/api/fitting/rooms/{tok}/calls", json={"kind": "help", "note": f"call {i}"})
                assert r.status_code == 201
                ids.append(r.json()["call"]["id"])
                if i == 15:
                    ready = client.get("/readyz").json()["components"]["mqtt"]
                    assert ready["status"] == "degraded" and ready["details"]["queue_depth"] >= 5
            got = guide.wait_count(lambda m: m.get("state") == "open", 30, timeout=30)
            opened = [m["id"] for m in guide.received if m.get("state") == "open"]
            assert got == 30 and sorted(opened) == sorted(ids)  # none lost, none twice after dedupe
            wait_for(lambda: _depth(daemon), 20, "the relay queue to empty", until=lambda n: n == 0)
            assert client.get("/readyz").json()["components"]["mqtt"]["status"] == "ok"
    finally:
        guide.close()


def test_daemon_kill9_with_queued_calls_delivers_all_after_restart_and_lwt_says_offline(  # type: ignore[no-untyped-def]
    tmp_path: Path, mosquitto: Mosquitto, daemon_factory
) -> None:
    from edge.config import load_settings
    from tests.support.inproc import room_codes

    cfg = _cfg(mosquitto)
    config = {"store": {"id": "test-store", "node": "edge-7"}, **cfg, "mqtt": {**cfg["mqtt"], "keepalive_s": 5}}
    d = daemon_factory(tmp_path / "data", config=config)
    guide = Guide(mosquitto.port, "guide-hh-3", [CALLS, "retail/test-store/edge/edge-7/available"])
    mosquitto.stop()  # the calls must wait in the daemon's SQLite queue
    try:
        d.start()
        settings = load_settings(None, overrides={**config, "storage": {"data_dir": str(d.data_dir)}})
        tok = room_codes(settings, d.data_dir).token("room-1")
        ids = []
        for i in range(12):
            r = httpx.post(f"{d.url}/api/fitting/rooms/{tok}/calls", json={"kind": "help", "note": f"n{i}"}, timeout=10)
            assert r.status_code == 201, r.text
            ids.append(r.json()["call"]["id"])
        d.kill9()
        mosquitto.start()
        d.start()
        got = guide.wait_count(lambda m: m.get("state") == "open", 12, timeout=30)
        opened = sorted(m["id"] for m in guide.received if m.get("state") == "open")
        assert got == 12 and opened == sorted(ids)

        # The Last Will: the retained `available` flips to offline when the daemon dies.
        assert guide.wait_for(lambda m: m.get("_text") == "online", timeout=15)
        d.kill9()
        assert guide.wait_for(lambda m: m.get("_text") == "offline", timeout=20)
    finally:
        guide.close()


def test_a_clean_shutdown_logs_no_mqtt_warning(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopping the daemon disconnects on purpose: an INFO line, not "reconnecting with backoff"."""
    with running_app(tmp_path / "data", _cfg(mosquitto)) as (_client, daemon):
        messaging = daemon.ctx.own(MqttClient)
        assert messaging.wait_connected(10), messaging.last_error
        caplog.set_level(logging.INFO, logger="edge.mqtt")
    warnings = [
        r.getMessage() for r in caplog.records if r.name.startswith("edge.mqtt") and r.levelno >= logging.WARNING
    ]
    assert warnings == []
    assert any("shutting down" in r.getMessage() for r in caplog.records if r.name == "edge.mqtt.client")
