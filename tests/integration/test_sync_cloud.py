"""Uploader and down-sync against the real reference receiver on a real PostgreSQL database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlmodel import col, select

from cloud.harness import PostgresUnavailable, Receiver, stored_ids, temp_database
from edge.platform import outbox
from edge.platform.store import Store
from edge.sync.models import SyncQuarantine
from edge.sync.service import SyncService
from edge.sync.settings import SyncSettings
from edge.sync.uploader import Uploader
from tests.support.waits import wait_for

STORE, TOKEN = "test-store", "tok-test-store"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Receiver, str]]:
    try:
        with temp_database() as dsn:
            rx = Receiver(dsn, {STORE: TOKEN}, tmp_path_factory.mktemp("rx") / "receiver.log")
            rx.start()
            try:
                yield rx, dsn
            finally:
                rx.stop()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture
def rx(cloud: tuple[Receiver, str]) -> Receiver:
    cloud[0].faults(mode="ok")
    return cloud[0]


@pytest.fixture
def db(tmp_path: Path) -> Store:
    d = Store(tmp_path / "edge.db")
    d.migrate()
    return d


def make_uploader(db: Store, url: str, **overrides: Any) -> Uploader:
    cfg = SyncSettings(**{"url": url, "backoff_initial_s": 0.05, "backoff_max_s": 2.0, **overrides})
    return Uploader(db, cfg, STORE, "edge-1", lambda: TOKEN)


def drain(up: Uploader, max_steps: int = 500) -> list[float]:
    delays: list[float] = []
    for _ in range(max_steps):
        if up.outbox.backlog().count == 0:
            return delays
        delays.append(up.step())
    raise AssertionError(f"backlog not drained: {up.outbox.backlog()} last error {up.state.last_error}")


def test_order_within_each_stream_is_kept_and_every_event_lands_once(rx: Receiver, cloud: Any, db: Store) -> None:
    ids: dict[str, list[str]] = {"orders": [], "fitting": [], "audit": []}
    for i in range(300):
        with db.write() as s:
            stream = ("orders", "fitting", "audit")[i % 3]
            if stream == "audit":
                s.audit("user:it", "test.action", f"s{i}", n=i)
                # audit.record returns the audit row id; the outbox event id is the last one written
                last = s.exec(select(outbox.OutboxEvent).order_by(col(outbox.OutboxEvent.seq).desc())).first()
                assert last is not None, "audit.record wrote no outbox event"
                ids[stream].append(last.event_id)
            else:
                ids[stream].append(s.outbox(stream, f"{stream}.changed", {"n": i}))
    up = make_uploader(db, rx.url, batch_size=37)
    drain(up)
    with psycopg.connect(cloud[1]) as conn:
        for stream, expected in ids.items():
            got = [
                r[0]
                for r in conn.execute(
                    "SELECT event_id::text FROM edge_event WHERE store_id=%s AND event_id = ANY(%s::uuid[]) "
                    "ORDER BY ingest_id",
                    (STORE, expected),
                )
            ]
            assert got == expected, f"stream {stream} arrived out of order or incomplete"
    assert up.state.sent_total == 300


def test_permanent_4xx_goes_to_quarantine_and_the_stream_continues(rx: Receiver, cloud: Any, db: Store) -> None:
    rx.faults(mode="ok", reject_kinds=["order.poison"])
    with db.write() as s:
        before = s.outbox("orders", "order.paid", {"order": 1})
    with db.write() as s:
        poison = s.outbox("orders", "order.poison", {"order": 2})
    with db.write() as s:
        after = s.outbox("orders", "order.paid", {"order": 3})
    up = make_uploader(db, rx.url)
    drain(up)
    assert {before, after} <= stored_ids(cloud[1])
    assert poison not in stored_ids(cloud[1])
    svc = SyncService(db, up.settings, up, None)
    page = svc.quarantine()
    # Refused inside a 200 batch answer: stored with the event's own 422, never the batch's 200.
    assert [(q.event_id, q.code, q.http_status) for q in page.items] == [(poison, "unsupported_kind", 422)]
    assert "does not accept" in page.items[0].reason
    # Store IT fixes the cloud side and requeues: the same event id is delivered.
    rx.faults(mode="ok")
    svc.requeue(poison, actor="user:it")
    drain(up)
    assert poison in stored_ids(cloud[1])
    with db.read() as r:
        assert r.exec(select(SyncQuarantine)).all() == []


def test_one_bad_event_inside_an_accepted_batch_is_quarantined_alone(rx: Receiver, cloud: Any, db: Store) -> None:
    """The receiver refuses one event inside a 200: only that one is quarantined, with a 422."""
    good = []
    with db.write() as s:
        for i in range(6):
            good.append(s.outbox("fitting", "call.created", {"i": i}))
    up = make_uploader(db, rx.url)
    rows = up.outbox.next_batch(100, 1 << 20)
    # Make the receiver refuse any batch holding the 4th event's kind as a whole: simulate with a payload
    # that is not an object by corrupting that row on disk (what a buggy writer could leave behind).
    with db.engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE outbox_event SET payload='[1,2]' WHERE seq=:s"), {"s": rows[3].seq})
    drain(up)
    stored = stored_ids(cloud[1])
    assert set(good) - {rows[3].event_id} <= stored
    assert rows[3].event_id not in stored
    with db.read() as r:
        q = r.exec(select(SyncQuarantine)).one()
    assert (q.code, q.http_status) == ("invalid_payload", 422)


def _arrival_order(dsn: str, ids: list[str]) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT event_id::text FROM edge_event WHERE event_id = ANY(%s::uuid[]) ORDER BY ingest_id", (ids,)
            )
        ]


def test_whole_batch_refused_is_narrowed_to_the_bad_event(rx: Receiver, cloud: Any, db: Store) -> None:
    """A 400 for a whole batch: halve until the one bad event is alone, quarantine it, send the rest in order."""
    from sqlalchemy import text

    with db.write() as s:
        ids = [s.outbox("fitting", "call.created", {"i": i}) for i in range(6)]
    up = make_uploader(db, rx.url)
    rows = up.outbox.next_batch(100, 1 << 20)
    bad = rows[3]
    # A row a buggy writer left as broken JSON makes the whole body unreadable: 400 invalid_json.
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE outbox_event SET payload='{\"i\": 3' WHERE seq=:s"), {"s": bad.seq})
    sizes: list[int] = []
    send = up.client.send

    def counting_send(batch: Any, *args: Any) -> Any:
        sizes.append(len(batch))
        return send(batch, *args)

    up.client.send = counting_send  # type: ignore[method-assign,assignment]
    drain(up)
    assert sizes[0] == 6 and sizes.count(1) >= 1 and max(sizes[1:]) < 6, f"the batch was not narrowed: {sizes}"
    good = [e for e in ids if e != bad.event_id]
    assert _arrival_order(cloud[1], ids) == good, "the other five must all arrive, in seq order"
    with db.read() as r:
        q = r.exec(select(SyncQuarantine)).one()
    assert (q.event_id, q.http_status, q.code) == (bad.event_id, 400, "invalid_json")
    assert up.state.quarantined_total == 1


def test_retry_after_is_honoured_and_nothing_is_marked_before_the_ack(rx: Receiver, db: Store) -> None:
    rx.faults(mode="unavailable", retry_after=1, remaining=2)
    with db.write() as s:
        s.outbox("orders", "order.paid", {"n": 1})
    up = make_uploader(db, rx.url)
    d1 = up.step()
    assert d1 >= 1.0, "Retry-After: 1 must hold the next attempt at least a second"
    assert up.outbox.backlog().count == 1
    svc = SyncService(db, up.settings, up, None)
    status, reason, details = svc.health()
    assert status == "degraded" and "cloud answered 503" in reason and details["backlog"] == 1
    up.step()
    assert up.state.consecutive_failures == 2
    up.step()
    assert up.outbox.backlog().count == 0
    assert svc.health()[0] == "ok"


def test_cloud_down_backs_off_exponentially_and_keeps_rows(db: Store) -> None:
    with db.write() as s:
        s.outbox("orders", "order.paid", {"n": 1})
    up = make_uploader(db, "http://127.0.0.1:9", backoff_initial_s=0.1, backoff_max_s=10)
    delays = [up.step() for _ in range(6)]
    assert all(b > a for a, b in zip(delays[1:3], delays[2:4], strict=True)), delays
    assert delays[-1] <= 10
    row = (
        db.engine.connect()
        .execute(__import__("sqlalchemy").text("SELECT attempts, last_error, sent_at FROM outbox_event"))
        .one()
    )
    assert row[0] == 6 and "unreachable" in row[1] and row[2] is None


def test_slow_cloud_keeps_one_request_in_flight(rx: Receiver, db: Store) -> None:
    rx.faults(mode="slow", delay_s=0.3)
    with db.write() as s:
        for i in range(30):
            s.outbox("orders", "order.paid", {"n": i})
    up = make_uploader(db, rx.url, batch_size=10)
    up.start()
    try:
        wait_for(lambda: up.outbox.backlog().count, 20, "the backlog to drain", until=lambda n: n == 0)
    finally:
        up.stop()
    assert up.outbox.backlog().count == 0
    assert rx.stats()["max_in_flight"] == 1


def test_a_cloud_that_never_answers_times_out_and_the_rows_stay(rx: Receiver, db: Store) -> None:
    rx.faults(mode="timeout", delay_s=5, remaining=1)
    with db.write() as s:
        s.outbox("orders", "order.paid", {"n": 1})
    up = make_uploader(db, rx.url, request_timeout_s=0.5)
    t0 = time.monotonic()
    up.step()
    assert time.monotonic() - t0 < 3, "the read timeout bounds how long one attempt can take"
    assert "timeout" in up.state.last_error and up.outbox.backlog().count == 1
    drain(up)


def _metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_move_with_sends_failures_and_the_backlog(rx: Receiver, db: Store) -> None:
    """What a Prometheus alert reads: the backlog gauges rise and fall, sent and error counters count."""
    with db.write() as s:
        for i in range(5):
            s.outbox("orders", "order.paid", {"n": i})
    sent0 = _metric("edge_sync_sent_events_total")
    down0 = _metric("edge_sync_send_errors_total", reason="network")
    http0 = _metric("edge_sync_send_errors_total", reason="http_503")
    away = make_uploader(db, "http://127.0.0.1:9")
    away.step()
    assert _metric("edge_sync_send_errors_total", reason="network") == down0 + 1
    assert _metric("edge_sync_backlog_events") == 5
    assert _metric("edge_sync_oldest_unsent_age_seconds") >= 0
    assert _metric("edge_sync_sent_events_total") == sent0
    rx.faults(mode="unavailable", remaining=1)
    up = make_uploader(db, rx.url)
    up.step()
    assert _metric("edge_sync_send_errors_total", reason="http_503") == http0 + 1
    drain(up)
    assert _metric("edge_sync_sent_events_total") == sent0 + 5
    up.refresh_stats()
    assert _metric("edge_sync_backlog_events") == 0 and _metric("edge_sync_oldest_unsent_age_seconds") == 0
