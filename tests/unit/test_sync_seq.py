"""Outbox seq numbers are never reused: the cloud orders each stream by them."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from alembic import command

from edge.platform.store import Store
from edge.sync.store import OutboxStore, Rejection


def _add(db: Store, n: int, stream: str = "orders") -> list[int]:
    ids = []
    with db.write() as s:
        for i in range(n):
            ids.append(s.outbox(stream, "order.paid", {"order_id": f"o{i}"}))
    with db.engine.connect() as c:
        return [c.exec_driver_sql("SELECT seq FROM outbox_event WHERE event_id = ?", (e,)).scalar_one() for e in ids]


def test_quarantining_or_pruning_the_newest_row_never_hands_its_seq_out_again(tmp_path: Path) -> None:
    db = Store.in_dir(tmp_path)
    db.migrate()
    store = OutboxStore(db)
    seqs = _add(db, 3)
    store.settle([], [Rejection(seqs[-1], 422, "unsupported_kind", "refused")])  # the newest row leaves
    (after_quarantine,) = _add(db, 1)
    assert after_quarantine > seqs[-1], "a new event reused the quarantined event's seq"
    store.settle([*seqs[:-1], after_quarantine], [])
    with db.engine.begin() as c:  # sent long ago: due for pruning
        c.exec_driver_sql("UPDATE outbox_event SET sent_at = '2000-01-01 00:00:00.000000'")
    assert store.prune(timedelta(days=1)) == 3
    (after_prune,) = _add(db, 1)
    assert after_prune > after_quarantine, "a new event reused a pruned event's seq"


def test_the_upgrade_keeps_rows_and_indexes_and_starts_above_every_used_seq(tmp_path: Path) -> None:
    db = Store.in_dir(tmp_path)
    command.upgrade(db.schema.alembic_config(), "0006")  # the schema before seqs were made unique for good
    with sqlite3.connect(tmp_path / "edge.db") as conn:
        for seq in (1, 2, 3):
            conn.execute(
                "INSERT INTO outbox_event (seq, event_id, stream, kind, schema_version, created_at, payload, "
                "attempts) VALUES (?, ?, 'orders', 'order.paid', 1, '2026-11-01 10:00:00.000000', '{}', 0)",
                (seq, f"00000000-0000-7000-8000-00000000000{seq}"),
            )
        # seq 5 was the newest once and sits in quarantine; the plain table would hand out 4, then 5.
        conn.execute(
            "INSERT INTO sync_quarantine (event_id, seq, stream, kind, schema_version, created_at, payload, "
            "quarantined_at, http_status, code, reason) VALUES ('00000000-0000-7000-8000-000000000005', 5, "
            "'orders', 'order.bad', 1, '2026-11-01 10:00:00.000000', '{}', '2026-11-01 10:00:01.000000', 422, "
            "'x', 'y')"
        )
    db.dispose()
    db = Store.in_dir(tmp_path)
    assert "0006b" in db.migrate()
    backups = list((tmp_path / "backups").glob("edge-*.db"))
    assert len(backups) == 1, "the rebuild runs only after a backup"
    with sqlite3.connect(backups[0]) as conn:
        assert conn.execute("SELECT count(*) FROM outbox_event").fetchone()[0] == 3
    with sqlite3.connect(tmp_path / "edge.db") as conn:
        assert [r[0] for r in conn.execute("SELECT seq FROM outbox_event ORDER BY seq")] == [1, 2, 3]
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"ix_outbox_pending", "ix_outbox_stream_seq", "ix_outbox_unsent", "ix_outbox_event_event_id"} <= indexes
    (new_seq,) = _add(db, 1)
    assert new_seq == 6, "the first new event must follow every seq ever used, quarantined ones too"
