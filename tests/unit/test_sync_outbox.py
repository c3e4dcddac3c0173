"""The outbox on a real SQLite file: atomic with the domain change, safe on a full disk, bounded pages."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlmodel import func, select

from edge.platform import audit, outbox
from edge.platform.errors import DiskFull
from edge.platform.store import Store
from edge.platform.timeutil import utcnow
from edge.sync.client import encode_batch, retry_after_seconds
from edge.sync.store import OutboxStore, sql_ts
from edge.sync.uploader import Backoff


@pytest.fixture
def db(tmp_path: Path) -> Store:
    d = Store(tmp_path / "edge.db")
    d.migrate()
    return d


def counts(db: Store) -> tuple[int, int]:
    with db.read() as s:
        a = s.exec(select(func.count()).select_from(audit.AuditEvent)).one()
        o = s.exec(select(func.count()).select_from(outbox.OutboxEvent)).one()
    return int(a), int(o)


def test_outbox_row_commits_and_rolls_back_with_the_domain_change(db: Store) -> None:
    with db.write() as s:
        s.audit("user:it", "price.override", "4006381333931", new=199)
    assert counts(db) == (1, 1)
    with pytest.raises(RuntimeError), db.write() as s:
        s.audit("user:it", "price.override", "4006381333931", new=299)
        s.flush()  # both rows are written to the transaction...
        raise RuntimeError("the sale failed after writing")  # ...and both go away
    assert counts(db) == (1, 1)
    with db.read() as s:
        row = s.exec(select(outbox.OutboxEvent)).one()
    assert row.stream == "audit" and json.loads(row.payload)["detail"] == {"new": 199}


def test_a_full_disk_fails_the_write_cleanly_and_leaves_the_outbox_intact(db: Store) -> None:
    """SQLITE_FULL for real: the database is capped at its current size plus a few pages."""
    for i in range(20):
        with db.write() as s:
            s.audit("user:it", "door.open", f"d{i}", n=i)
    with db.engine.connect() as c:
        pages = int(c.execute(text("PRAGMA page_count")).scalar_one())
    capped = Store(db.path)

    def _cap(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={pages + 3}")

    for engine in (capped.engine, capped.schema_engine):
        event.listen(engine, "connect", _cap)

    written = 0
    with pytest.raises(DiskFull) as caught:
        for i in range(10_000):
            with capped.write() as s:
                s.audit("user:it", "bulk", f"b{i}", blob="y" * 3000)
            written += 1
    assert isinstance(caught.value.__cause__, OperationalError), "SQLite's own SQLITE_FULL, typed"
    assert (caught.value.status, caught.value.code) == (503, "disk_full")
    assert capped.faults.failing and capped.faults.last is not None and capped.faults.last.code == "disk_full"
    a, o = counts(db)
    assert a == o == 20 + written, "an audit row without its outbox row (or the reverse) was left behind"
    with db.engine.connect() as c:
        assert c.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    # The uploader still pages through everything that did commit, in order.
    rows = OutboxStore(db).next_batch(10_000, 1 << 30)
    assert len(rows) == o and [r.seq for r in rows] == sorted(r.seq for r in rows)
    capped.dispose()


def test_batches_are_bounded_by_count_and_bytes_and_resume_in_order(db: Store) -> None:
    with db.write() as s:
        for i in range(50):
            s.outbox("orders", "order.paid", {"i": i, "pad": "z" * 1000})
    store = OutboxStore(db)
    assert len(store.next_batch(20, 1 << 20)) == 20
    by_bytes = store.next_batch(1000, 10_000)
    assert 5 <= len(by_bytes) <= 9, "about 1.2 KB per event: a 10 KB budget holds under ten"
    assert len(store.next_batch(1000, 10)) == 1, "one oversized event still goes, alone"
    store.settle([r.seq for r in by_bytes], [])
    nxt = store.next_batch(5, 1 << 20)
    assert nxt[0].seq == by_bytes[-1].seq + 1
    body = json.loads(encode_batch("s1", "edge-1", nxt))
    assert [e["seq"] for e in body["events"]] == [r.seq for r in nxt]
    assert body["events"][0]["payload"]["i"] == len(by_bytes)
    assert body["events"][0]["created_at"].endswith("Z")


def test_sent_rows_are_pruned_after_retention_and_unsent_rows_never(db: Store) -> None:
    with db.write() as s:
        for i in range(30):
            s.outbox("fitting", "call.created", {"i": i})
    store = OutboxStore(db)
    rows = store.next_batch(100, 1 << 20)
    store.settle([r.seq for r in rows[:20]], [])
    with db.engine.begin() as c:
        c.execute(
            text("UPDATE outbox_event SET sent_at=:t WHERE seq <= :s"),
            {"t": sql_ts(utcnow() - timedelta(days=10)), "s": rows[9].seq},
        )
    assert store.prune(timedelta(days=7), chunk=3) == 10
    assert store.backlog().count == 10
    assert counts(db)[1] == 20


def test_backoff_doubles_with_jitter_caps_and_honours_retry_after() -> None:
    b = Backoff(1.0, 60.0, random.Random(7))
    delays = [b.next_delay() for _ in range(10)]
    for n, d in enumerate(delays):
        cap = min(60.0, 2.0**n)
        assert cap / 2 <= d <= cap
    assert len({round(d, 6) for d in delays[6:]}) > 1, "jitter spreads stores that failed together"
    assert b.next_delay(retry_after_s=5000) == 60.0, "Retry-After is honoured up to backoff_max_s"
    b.reset()
    assert b.next_delay(retry_after_s=30) == 30.0


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Sun, 22 Nov 2026 10:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
