"""A guide's MQTT claim that meets a locked database is retried and applied once; when the
database stays locked it is acknowledged anyway and audited, so claims never wedge.

The lock is real: a second SQLite connection holds the write lock (as a backup or another
process would). Only the daemon's busy timeout is shortened (10 s -> 0.1 s) to keep this fast.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import event
from sqlmodel import col, select

from edge.fitting.service import FittingService
from edge.mqtt.client import MqttClient
from edge.platform.audit import AuditEvent
from edge.platform.store import Store
from tests.integration.test_mqtt_relay import CALLS, Guide, _cfg
from tests.support.inproc import device_headers, running_app
from tests.support.services import Mosquitto
from tests.support.waits import wait_for

CLAIMS = "retail/test-store/fitting/room-1/claim"


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _short_busy_timeout(db: Store) -> None:
    def fast(dbapi_conn: Any, _rec: object) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=100")

    for engine in (db.engine, db.schema_engine):
        event.listen(engine, "connect", fast)
        engine.dispose()  # pooled connections reopen with the short timeout


@contextmanager
def write_locked(db: Store) -> Iterator[None]:
    """Another connection holds SQLite's write lock: the daemon's writes fail 'database is locked'."""
    holder = sqlite3.connect(db.path, isolation_level=None, timeout=5)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
        holder.execute("COMMIT")
    finally:
        holder.close()


def _open_call(client: Any, daemon: Any, guide: Guide) -> tuple[str, str, str]:
    assert daemon.ctx.own(MqttClient).wait_connected(10)
    tok = daemon.ctx.own(FittingService).codes.token("room-1")
    token = device_headers(daemon, "guide-1", "guide")["Authorization"][7:]
    call_id = client.post(f"/api/fitting/rooms/{tok}/calls", json={"kind": "help"}).json()["call"]["id"]
    assert guide.wait_for(lambda m: m.get("id") == call_id and m.get("state") == "open")
    return tok, token, call_id


def _states(guide: Guide, call_id: str, state: str) -> list[dict[str, Any]]:
    return [m for m in guide.received if m.get("id") == call_id and m.get("state") == state]


def test_claim_during_a_database_lock_is_retried_and_applied_once(tmp_path: Path, mosquitto: Mosquitto) -> None:
    guide = Guide(mosquitto.port, "guide-retry-1", [CALLS])
    try:
        with running_app(tmp_path / "data", _cfg(mosquitto)) as (client, daemon):
            tok, token, call_id = _open_call(client, daemon, guide)
            _short_busy_timeout(daemon.ctx.store)
            retries = _metric("edge_fitting_inbound_retries_total")
            failed = _metric("edge_fitting_inbound_total", action="claim", result="failed")
            claim = {"event_id": "evt-locked-claim", "call_id": call_id, "action": "claim", "device_token": token}
            with write_locked(daemon.ctx.store):
                guide.publish(CLAIMS, claim).wait_for_publish(5)
                wait_for(lambda: _metric("edge_fitting_inbound_retries_total") - retries, 10,
                         "the claim to fail on the lock and be retried", until=lambda n: n >= 1)  # fmt: skip
                assert not _states(guide, call_id, "claimed")
                # the lock outlasts more than one attempt: released only after a second retry
                wait_for(lambda: _metric("edge_fitting_inbound_retries_total") - retries, 10,
                         "the claim to be retried a second time", until=lambda n: n >= 2)  # fmt: skip
            got = guide.wait_for(lambda m: m.get("id") == call_id and m.get("state") == "claimed", timeout=10)
            assert got and got[0]["guide_id"] == "guide-1" and got[0]["version"] == 2
            assert _metric("edge_fitting_inbound_total", action="claim", result="failed") == failed

            # later messages still flow; the claim was applied exactly once
            guide.publish(CLAIMS, dict(claim, event_id="evt-after-lock", action="resolve"))
            done = guide.wait_for(lambda m: m.get("id") == call_id and m.get("state") == "resolved")
            assert done and done[0]["version"] == 3
            assert len(_states(guide, call_id, "claimed")) == 1
            assert [c["state"] for c in client.get(f"/api/fitting/rooms/{tok}").json()["calls"]] == ["resolved"]
    finally:
        guide.close()


def test_claim_that_never_applies_is_acked_audited_and_does_not_block(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = _cfg(mosquitto)
    cfg["fitting"] = {**cfg["fitting"], "claim_attempts": 2, "claim_retry_backoff_s": 0.05}
    guide = Guide(mosquitto.port, "guide-retry-2", [CALLS])
    try:
        with running_app(tmp_path / "data", cfg) as (client, daemon):
            tok, token, call_id = _open_call(client, daemon, guide)
            _short_busy_timeout(daemon.ctx.store)
            failed = _metric("edge_fitting_inbound_total", action="claim", result="failed")
            claim = {"event_id": "evt-never-applied", "call_id": call_id, "action": "claim", "device_token": token}
            with write_locked(daemon.ctx.store):
                guide.publish(CLAIMS, claim).wait_for_publish(5)
                wait_for(lambda: _metric("edge_fitting_inbound_total", action="claim", result="failed") - failed, 10,
                         "the claim to be given up", until=lambda n: n >= 1)  # fmt: skip

            def audited() -> list[AuditEvent]:
                with daemon.ctx.store.read() as s:
                    return list(s.exec(select(AuditEvent).where(col(AuditEvent.action) == "fitting.claim_failed")))

            wait_for(audited, 10, "the failure's audit row, written once the database works again",
                     until=lambda rows: len(rows) == 1)  # fmt: skip
            row = audited()[0]
            assert row.subject == "evt-never-applied" and call_id in row.detail and token not in row.detail
            assert client.get(f"/api/fitting/rooms/{tok}").json()["calls"][0]["state"] == "open"

            # It was acknowledged: after a broker restart nothing is redelivered and applied.
            mqtt_client = daemon.ctx.own(MqttClient)
            mosquitto.stop()
            wait_for(lambda: not mqtt_client.connected and not guide.connected.is_set(), 15,
                     "the daemon and the guide to see the broker go")  # fmt: skip
            mosquitto.start()
            assert mqtt_client.wait_connected(15) and guide.subscribed.wait(15)
            # A redelivery would reach the daemon's claim listener right after its reconnect, before
            # anything published from now on; it applies messages in order. So once a malformed
            # marker sent now has been counted, a redelivered claim would have been applied.
            malformed = _metric("edge_fitting_inbound_total", action="unknown", result="malformed")
            guide.publish(CLAIMS, "not json").wait_for_publish(5)
            wait_for(lambda: _metric("edge_fitting_inbound_total", action="unknown", result="malformed") - malformed,
                     15, "the claim listener to count the malformed marker", until=lambda n: n >= 1)  # fmt: skip
            assert client.get(f"/api/fitting/rooms/{tok}").json()["calls"][0]["state"] == "open"

            # the guide sends it again (same event_id: the failure was not recorded as applied)
            guide.publish(CLAIMS, claim)
            got = guide.wait_for(lambda m: m.get("id") == call_id and m.get("state") == "claimed", timeout=10)
            assert got and got[0]["guide_id"] == "guide-1"
    finally:
        guide.close()
