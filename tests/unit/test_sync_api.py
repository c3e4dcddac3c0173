"""The dashboard's sync view through the real app: staff only, backlog, quarantine with reasons."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from edge.platform import outbox
from edge.sync.store import OutboxStore, Rejection
from tests.support.inproc import device_headers, staff_headers


def test_sync_status_and_quarantine_for_store_it(app_client: Any) -> None:
    client, daemon = app_client
    db = daemon.ctx.store
    with db.write() as s:
        s.outbox("orders", "order.paid", {"order": "A1"})
        bad = s.outbox("orders", "order.weird", {"order": "A2"})
    seq = db.engine.connect().exec_driver_sql(f"SELECT seq FROM outbox_event WHERE event_id='{bad}'").scalar_one()
    OutboxStore(db).settle([], [Rejection(seq, 422, "unsupported_kind", "cloud refuses order.weird")])

    assert client.get("/api/sync/status").status_code == 401
    kiosk = device_headers(daemon, "kiosk-1", "kiosk")
    assert client.get("/api/sync/status", headers=kiosk).json()["error"]["code"] == "staff_only"

    staff = staff_headers(daemon)
    st = client.get("/api/sync/status", headers=staff).json()
    assert st["enabled"] is False and st["state"] == "degraded" and "sync.url is not set" in st["reason"]
    assert st["backlog"] >= 1 and st["quarantined"] == 1
    assert {s["stream"] for s in st["streams"]} >= {"orders"}

    q = client.get("/api/sync/quarantine", headers=staff).json()
    assert q["total"] == 1 and q["items"][0]["reason"] == "cloud refuses order.weird"
    assert client.post(f"/api/sync/quarantine/{bad}/requeue", headers=staff).status_code == 204
    assert client.get("/api/sync/quarantine", headers=staff).json()["total"] == 0
    with db.read() as s:
        row = s.exec(select(outbox.OutboxEvent).where(outbox.OutboxEvent.event_id == bad)).one()
    assert row.sent_at is None and row.seq > seq, "requeued at the end of its stream, same event id"
    missing = client.post("/api/sync/quarantine/nope/discard", headers=staff)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "sync_event_unknown"

    ready = client.get("/readyz").json()["components"]["sync"]
    assert ready["status"] == "degraded" and ready["details"]["backlog"] >= 2
    samples = _samples(client.get("/metrics").text)
    assert samples["edge_sync_backlog_events"] == ready["details"]["backlog"], "the gauge must show the backlog"
    assert samples["edge_sync_oldest_unsent_age_seconds"] >= 0
    with db.write() as s:
        s.outbox("orders", "order.paid", {"order": "A3"})
    client.get("/readyz")
    assert _samples(client.get("/metrics").text)["edge_sync_backlog_events"] == ready["details"]["backlog"] + 1


def _samples(text: str) -> dict[str, float]:
    """Unlabelled samples of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out
