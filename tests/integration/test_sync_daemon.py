"""The real daemon syncing to the real receiver: crashes in flight, a cloud that is away or slow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text

from cloud.harness import PostgresUnavailable, Receiver, event_counts, out_of_order, temp_database
from edge.platform.store import Store
from tests.support.services import DaemonProcess
from tests.support.waits import wait_for

STORE, TOKEN = "store-d", "tok-store-d"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[Receiver, str]]:
    try:
        with temp_database() as dsn:
            rx = Receiver(dsn, {STORE: TOKEN}, tmp_path / "receiver.log")
            rx.start()
            try:
                yield rx, dsn
            finally:
                rx.stop()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))


def start_daemon(factory: type[DaemonProcess], data: Path, url: str, **sync: Any) -> DaemonProcess:
    cfg = {
        "store": {"id": STORE},
        "mqtt": {"url": "mqtt://127.0.0.1:9"},
        "sync": {
            "url": url,
            "backoff_initial_s": 0.2,
            "backoff_max_s": 2.0,
            "idle_poll_s": 0.2,
            "request_timeout_s": 60,
            "downsync_enabled": False,
            **sync,
        },
    }
    d = factory(data, config=cfg, env={"RETAIL_EDGE_SECRET_SYNC_TOKEN": TOKEN})
    d.start()
    return d


def write_audit_events(data: Path, n: int, per_tx: int = 1, pad: int = 0) -> None:
    """Domain writes from another process on the daemon's own SQLite file (WAL allows it)."""
    db = Store.in_dir(data)
    try:
        for start in range(0, n, per_tx):
            with db.write() as s:
                for i in range(start, min(n, start + per_tx)):
                    s.audit("user:test", "test.event", f"e{i}", n=i, pad="x" * pad)
    finally:
        db.dispose()


def unsent(data: Path) -> int:
    db = Store.in_dir(data)
    try:
        with db.engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM outbox_event WHERE sent_at IS NULL")).scalar_one())
    finally:
        db.dispose()


def test_kill9_between_send_and_ack_is_resent_and_the_receiver_dedupes(
    cloud: tuple[Receiver, str], daemon_factory: type[DaemonProcess], tmp_path: Path
) -> None:
    rx, dsn = cloud
    data = tmp_path / "data"
    data.mkdir(parents=True)
    pre = Store.in_dir(data)
    pre.migrate()
    pre.dispose()
    write_audit_events(data, 250, per_tx=10)
    # The cloud commits the first batch, then hangs before answering: the daemon dies in that window.
    rx.faults(mode="hang_after_commit", delay_s=30)
    d = start_daemon(daemon_factory, data, rx.url, batch_size=100)
    wait_for(lambda: rx.stats()["committed_batches"] >= 1, 20, "the receiver to commit a batch")
    d.kill9()
    assert unsent(data) >= 250, "nothing may be marked sent without an acknowledgement"
    rx.faults(mode="ok")
    d.start()
    wait_for(lambda: unsent(data) == 0, 30, "the backlog to drain after the restart")
    with psycopg.connect(dsn) as conn:
        arrived = [
            r[0]
            for r in conn.execute(
                "SELECT (payload->'detail'->>'n')::int FROM edge_event WHERE kind='test.event' ORDER BY ingest_id"
            )
        ]
    assert arrived == list(range(250)), "every event stored exactly once, in the order it was written"
    assert out_of_order(dsn) == 0, "a stream arrived out of seq order across the kill and the resend"
    counts = event_counts(dsn)
    assert counts["rows"] == counts["distinct"] == counts["effects"], "an effect was applied twice"
    assert rx.stats()["duplicates"] >= 100, "the batch committed before the kill was resent and deduped"


def test_readyz_reports_degraded_with_backlog_age_when_the_cloud_is_unreachable(
    daemon_factory: type[DaemonProcess], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    d = start_daemon(daemon_factory, data, "http://127.0.0.1:9")
    write_audit_events(data, 5)

    def sync_entry() -> dict[str, Any]:
        return dict(httpx.get(d.url + "/readyz", timeout=5).json()["components"]["sync"])

    wait_for(lambda: sync_entry()["details"].get("oldest_unsent_age_s", 0) >= 1.0, 10, "the backlog on /readyz")
    entry = sync_entry()
    assert entry["status"] == "degraded"
    assert "cloud unreachable" in entry["reason"] and "backlog 5 events" in entry["reason"]
    assert entry["details"]["oldest_unsent_age_s"] >= 1.0


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_slow_cloud_does_not_grow_the_daemons_memory(
    cloud: tuple[Receiver, str], daemon_factory: type[DaemonProcess], tmp_path: Path
) -> None:
    rx, _ = cloud
    data = tmp_path / "data"
    rx.faults(mode="slow", delay_s=0.5)
    d = start_daemon(daemon_factory, data, rx.url, batch_size=50, batch_max_bytes=256 * 1024)
    assert d.proc is not None
    pid = d.proc.pid
    # The baseline is taken once the daemon has shipped an event end to end (its upload path and
    # HTTP client are warm), not after a guessed pause.
    write_audit_events(data, 1, pad=16_000)
    wait_for(lambda: unsent(data), 30, "the warm-up event to reach the cloud", until=lambda n: n == 0)
    base = _rss_kb(pid)
    # 40 MB of backlog (2,500 events of 16 KB) while the cloud takes half a second per batch.
    write_audit_events(data, 2_500, per_tx=250, pad=16_000)
    first = rx.stats()["committed_batches"]
    peak = base

    def sampled_five_batches() -> int:
        nonlocal peak
        peak = max(peak, _rss_kb(pid))
        return int(rx.stats()["committed_batches"]) - first

    # The RSS is sampled while the daemon works through the backlog: five batches stored.
    wait_for(sampled_five_batches, 30, "five more batches to reach the slow cloud", until=lambda n: n >= 5,
             interval=0.1, max_interval=0.1)  # fmt: skip
    assert unsent(data) > 1_000, "the slow cloud should still be draining"
    assert (peak - base) < 20_000, f"daemon RSS grew {(peak - base) // 1024} MB with a slow cloud"
    assert rx.stats()["max_in_flight"] == 1, "requests piled up at the slow cloud"
