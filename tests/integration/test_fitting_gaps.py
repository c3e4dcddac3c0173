"""Fitting-room paths a shopper or a floor manager would notice: "bring me this too" reaching the
guides and the phone, response-time stats and metrics, and a retried HTTP claim applied once."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from edge.demo.gtins import FASHION
from edge.fitting.models import FittingInbound
from edge.mqtt.client import MqttClient
from edge.platform.outbox import OutboxEvent
from tests.integration.test_fitting_api import ROOMS, _queued, _seed, _token
from tests.integration.test_fitting_live import _frames
from tests.integration.test_mqtt_relay import CALLS, Guide, _cfg
from tests.support.inproc import device_headers, running_app
from tests.support.services import Mosquitto

JEANS = FASHION[4][0]


def _metric(text: str, name: str, zone: str) -> float:
    m = re.search(rf'^{name}\{{zone="{zone}"\}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def test_bring_me_this_too_reaches_the_guides_and_is_pushed_to_the_phone(tmp_path: Path, mosquitto: Mosquitto) -> None:
    guide = Guide(mosquitto.port, "guide-bring-1", [CALLS])
    try:
        with running_app(tmp_path / "data", _cfg(mosquitto)) as (client, daemon):
            _seed(daemon)
            assert daemon.ctx.own(MqttClient).wait_connected(10)
            tok = _token(daemon, "room-2")
            answer: dict[str, Any] = {}
            opened = threading.Event()

            def shopper() -> None:
                assert opened.wait(10), "the phone's stream did not open"
                answer["r"] = client.post(f"/api/fitting/rooms/{tok}/calls", json={"kind": "bring", "gtin": JEANS})

            helper = threading.Thread(target=shopper, daemon=True)
            helper.start()
            with client.stream("GET", f"/api/fitting/rooms/{tok}/events") as stream:
                [pushed] = _frames(stream, 1, opened=opened)
            helper.join(10)
            r = answer["r"]
            assert r.status_code == 201, r.text
            call = r.json()["call"]
            assert (call["kind"], call["state"], call["gtin"], call["room_id"]) == (
                "bring",
                "open",
                JEANS.zfill(14),
                "room-2",
            )
            assert (pushed["id"], pushed["kind"], pushed["state"], pushed["gtin"]) == (
                call["id"],
                "bring",
                "open",
                call["gtin"],
            )

            got = guide.wait_for(lambda m: m.get("id") == call["id"])
            assert got and got[0]["_topic"] == "retail/test-store/fitting/room-2/call"
            assert (got[0]["kind"], got[0]["state"], got[0]["gtin"], got[0]["zone"]) == (
                "bring",
                "open",
                call["gtin"],
                "men",
            )
            # the guide is told what to bring by name and size, not by a bare GTIN
            item = {"name": FASHION[4][2], "size": FASHION[4][3], "colour": FASHION[4][4]}
            assert call["item"] == item and got[0]["item"] == item and pushed["item"] == item
            with daemon.ctx.store.read() as s:
                kinds = [e.kind for e in s.exec(select(OutboxEvent).where(OutboxEvent.stream == "fitting")).all()]
            assert kinds == ["call.open"]
    finally:
        guide.close()


def test_claim_and_resolve_show_in_guide_stats_and_metrics(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", {"fitting": ROOMS}) as (client, daemon):
        guide = device_headers(daemon, "guide-7", "guide")
        names = ("edge_fitting_claim_seconds_count", "edge_fitting_resolve_seconds_count")
        before = {n: _metric(client.get("/metrics").text, n, "women") for n in names}
        assert client.get("/api/fitting/stats", headers=guide).json() == []
        cid = client.post(f"/api/fitting/rooms/{_token(daemon)}/calls", json={"kind": "help"}).json()["call"]["id"]
        # Simulated: the guide takes 0.2 s to claim and 0.2 s more to resolve; the stats measure it.
        time.sleep(0.2)
        assert client.post(f"/api/fitting/calls/{cid}/claim", headers=guide).status_code == 200
        time.sleep(0.2)
        assert client.post(f"/api/fitting/calls/{cid}/resolve", headers=guide).status_code == 200
        [stats] = client.get("/api/fitting/stats", headers=guide).json()
        assert (stats["guide_id"], stats["claimed"], stats["resolved"]) == ("guide-7", 1, 1)
        for key in ("claim_p50_s", "claim_avg_s", "resolve_p50_s", "resolve_avg_s"):
            assert isinstance(stats[key], float) and 0.15 <= stats[key] < 30, (key, stats)
        after = {n: _metric(client.get("/metrics").text, n, "women") for n in names}
        assert {n: after[n] - before[n] for n in names} == dict.fromkeys(names, 1.0)


def test_a_repeated_http_claim_with_the_same_event_id_is_applied_once(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", {"fitting": ROOMS}) as (client, daemon):
        guide = device_headers(daemon, "guide-1", "guide")
        cid = client.post(f"/api/fitting/rooms/{_token(daemon)}/calls", json={"kind": "help"}).json()["call"]["id"]
        claim = {"event_id": "http-claim-0001"}
        first = client.post(f"/api/fitting/calls/{cid}/claim", headers=guide, json=claim)
        again = client.post(f"/api/fitting/calls/{cid}/claim", headers=guide, json=claim)  # answer lost, retried
        assert first.status_code == again.status_code == 200
        assert (first.json()["version"], again.json()["version"]) == (2, 2)
        done = client.post(f"/api/fitting/calls/{cid}/resolve", headers=guide, json={"event_id": "http-resolve-01"})
        assert done.json()["state"] == "resolved"
        # a late retry of the claim is recognised by its id: no "call_resolved" error, nothing moves
        late = client.post(f"/api/fitting/calls/{cid}/claim", headers=guide, json=claim)
        assert late.status_code == 200 and (late.json()["state"], late.json()["version"]) == ("resolved", 3)
        # without the id the same request is a new claim, which a resolved call refuses
        fresh = client.post(f"/api/fitting/calls/{cid}/claim", headers=guide)
        assert (fresh.status_code, fresh.json()["error"]["code"]) == (409, "call_resolved")

        states = [m["state"] for m in _queued(daemon) if m["_topic"].endswith("/room-1/call")]
        assert states == ["open", "claimed", "resolved"]
        with daemon.ctx.store.read() as s:
            seen = s.exec(select(FittingInbound).where(col(FittingInbound.event_id).startswith("http-"))).all()
            kinds = [e.kind for e in s.exec(select(OutboxEvent).where(OutboxEvent.stream == "fitting")).all()]
        assert sorted((r.event_id, r.source) for r in seen) == [
            ("http-claim-0001", "http"),
            ("http-resolve-01", "http"),
        ]
        assert kinds == ["call.open", "call.claimed", "call.resolved"]  # none for the repeats
