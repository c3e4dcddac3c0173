"""The durable queue wakes the relay only when a transaction that enqueued commits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlmodel import select

from edge.cameras.settings import CameraSettings
from edge.platform import mqttqueue as queue
from edge.platform.errors import InvalidInput
from edge.platform.mqttqueue import MqttQueued
from edge.platform.store import Store


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    d = Store.in_dir(tmp_path)
    d.migrate()
    yield d
    d.dispose()


def test_commit_wakes_listener_and_rollback_leaves_nothing(db: Store) -> None:
    kicks: list[list[queue.Committed]] = []

    def kick(rows: list[queue.Committed]) -> None:
        kicks.append(rows)

    db.on_mqtt_committed(kick)
    try:
        with db.write() as s:
            eid = s.mqtt("retail/s1/fitting/r1/call", {"state": "open"})
        assert [[(r.topic, json.loads(r.payload)["event_id"]) for r in rows] for rows in kicks] == [
            [("retail/s1/fitting/r1/call", eid)]
        ]
        with pytest.raises(RuntimeError), db.write() as s:
            s.mqtt("retail/s1/fitting/r1/call", {"state": "claimed"})
            raise RuntimeError("the state change failed")
        with db.write() as s:
            s.add(MqttQueued(event_id="x" * 8, topic="t", payload="{}"))  # no enqueue(): no kick
        assert len(kicks) == 1
        with db.read() as r:
            rows = r.exec(select(MqttQueued).order_by(MqttQueued.seq)).all()  # type: ignore[arg-type]
        assert [r.event_id for r in rows] == [eid, "x" * 8]
        assert json.loads(rows[0].payload) == {"state": "open", "event_id": eid}
    finally:
        db.off_mqtt_committed(kick)


def test_given_event_id_is_kept(db: Store) -> None:
    with db.write() as s:
        eid = s.mqtt("retail/s1/gate/g1/cmd", {"event_id": "cmd-123456", "cmd": "open"}, retain=False)
    assert eid == "cmd-123456"


@pytest.mark.parametrize(
    "topic", ["retail/s1/gate/a+b/cmd", "retail/s1/gate/#/cmd", "", "retail/s1/gate/\x00/cmd", "t" * 256]
)
def test_unpublishable_topic_is_refused_and_the_transaction_rolls_back(db: Store, topic: str) -> None:
    with pytest.raises(InvalidInput) as err, db.write() as s:
        s.add(MqttQueued(event_id="same-txn-row", topic="retail/s1/fitting/r1/call", payload="{}"))
        s.mqtt(topic, {"cmd": "open"})
    assert err.value.code == "mqtt_topic_invalid"
    with db.read() as r:
        assert r.exec(select(MqttQueued)).all() == []  # nothing half-written


@pytest.mark.parametrize("target", ["gate+1", "#", "gate/1", "", "g" * 65])
def test_camera_target_cannot_hold_a_topic_wildcard(target: str) -> None:
    with pytest.raises(ValidationError):
        CameraSettings(id="cam-1", source="0", role="exit_gate", target=target)
    assert CameraSettings(id="cam-1", source="0", role="exit_gate", target="gate-1.north_2").target == "gate-1.north_2"
