"""Storage: migrations from empty, a second run is a no-op, backups first, clear refusals."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel, select

import edge.models_registry  # noqa: F401
from edge.platform import outbox
from edge.platform.errors import StartupRefused
from edge.platform.schema import check_data_dir
from edge.platform.store import Store
from tests.support.waits import wait_for


def test_migrations_run_from_empty_then_are_a_noop(tmp_path: Path) -> None:
    db = Store.in_dir(tmp_path)
    applied = db.migrate()
    assert applied, "first run applies the schema"
    _current, heads = db.schema.pending()
    assert db.schema.current_revisions() == heads
    assert db.migrate() == []  # second run: nothing to do
    assert not (tmp_path / "backups").exists(), "no backup when nothing changes"
    with sqlite3.connect(tmp_path / "edge.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_match_the_table_models(tmp_path: Path) -> None:
    db = Store.in_dir(tmp_path)
    db.migrate()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def _behind(tmp_path: Path) -> Store:
    """A database with data whose schema marker says nothing is applied: the next start migrates.
    A real upgrade from an older version looks the same to the backup step."""
    db = Store.in_dir(tmp_path)
    db.migrate()
    with db.write() as s:
        s.outbox("audit", "before.upgrade", {"n": 1})
    with sqlite3.connect(tmp_path / "edge.db") as conn:
        conn.execute("CREATE TABLE old_outbox AS SELECT * FROM outbox_event")
        conn.execute("DELETE FROM alembic_version")
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            if name not in ("alembic_version", "old_outbox") and not name.startswith("sqlite_"):
                conn.execute(f'DROP TABLE "{name}"')
    db.dispose()
    return Store.in_dir(tmp_path)


def test_migrate_backs_up_when_schema_is_behind(tmp_path: Path) -> None:
    db2 = _behind(tmp_path)
    assert db2.migrate(backups_keep=3)
    backups = list((tmp_path / "backups").glob("edge-*.db"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as conn:
        assert conn.execute("SELECT count(*) FROM old_outbox").fetchone()[0] == 1
        # ...and it is the database as it was *before* the upgrade, not after it.
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 0
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "outbox_event" not in tables
    with sqlite3.connect(tmp_path / "edge.db") as conn:  # while the live one was upgraded
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0] >= 1
        assert conn.execute("SELECT count(*) FROM outbox_event").fetchone()[0] == 0


def test_too_little_disk_for_the_backup_is_refused_before_anything_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _behind(tmp_path)
    size = (tmp_path / "edge.db").stat().st_size
    monkeypatch.setattr("edge.platform.schema.free_bytes", lambda _p: size)  # the copy alone would not fit
    with pytest.raises(StartupRefused, match="not enough free disk to back up") as err:
        db.migrate()
    assert "MB needed" in str(err.value)
    assert not list(tmp_path.glob("backups/edge-*.db"))
    assert db.schema.current_revisions() == set(), "no migration ran without its backup"


def test_a_failing_backup_write_is_a_refusal_not_a_traceback(tmp_path: Path) -> None:
    db = _behind(tmp_path)
    (tmp_path / "backups").write_text("a file where the backup directory should be")
    with pytest.raises(StartupRefused, match="cannot back up .* before migrating") as err:
        db.migrate()
    assert "the database was not changed" in str(err.value)
    assert db.schema.current_revisions() == set()


def test_newer_schema_is_refused_with_a_sentence(tmp_path: Path) -> None:
    db = Store.in_dir(tmp_path)
    db.migrate()
    with sqlite3.connect(tmp_path / "edge.db") as conn:
        conn.execute("INSERT INTO alembic_version VALUES ('9999_future')")
    with pytest.raises(StartupRefused, match="newer than this version"):
        db.migrate()


def test_unwritable_or_full_data_dir_is_refused(tmp_path: Path) -> None:
    afile = tmp_path / "not-a-dir"
    afile.write_text("x")
    with pytest.raises(StartupRefused, match="cannot create data dir"):
        check_data_dir(afile / "data", 0)
    with pytest.raises(StartupRefused, match="not writable"):
        check_data_dir(Path("/proc/self"), 0)
    with pytest.raises(StartupRefused, match="min_free_mb"):
        check_data_dir(tmp_path, 10**12)


def test_outbox_row_commits_and_rolls_back_with_its_transaction(tmp_path: Path) -> None:
    db = Store.in_dir(tmp_path)
    db.migrate()
    with db.write() as s:
        eid = s.outbox("orders", "order.created", {"total_minor": 1250, "currency": "CNY"})
    with pytest.raises(RuntimeError), db.write() as s:
        s.outbox("orders", "order.created", {"n": 2})
        raise RuntimeError("domain change failed")
    with db.read() as r:
        rows = list(r.exec(select(outbox.OutboxEvent)))
    assert [r.event_id for r in rows] == [eid]
    assert rows[0].stream == "orders" and rows[0].schema_version == 1 and rows[0].created_at.tzinfo is not None
    with db.schema_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_outbox_refuses_oversized_payloads(tmp_path: Path) -> None:
    db = Store.in_dir(tmp_path)
    db.migrate()
    with pytest.raises(ValueError, match="exceeds"), db.write() as s:
        s.outbox("audit", "huge", {"blob": "x" * (300 * 1024)})


def test_relaxed_sessions_skip_fsync_and_writers_queue_on_one_lock(tmp_path: Path) -> None:
    import threading

    db = Store.in_dir(tmp_path)
    db.migrate()
    with db.write(durable=False) as s:
        assert s.run(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    # durable sessions commit the same way and then wait for a group fsync: test_group_commit

    # Many threads writing at once: none waits on SQLite's sleeping busy handler, none fails.
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(20):
                with db.write(durable=n % 2 == 0) as s:
                    s.outbox("audit", "w", {"n": n, "i": i})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as r:
        assert len(list(r.exec(select(outbox.OutboxEvent)))) == 160
    assert db._slot.acquire(timeout=0), "the slot is released after every transaction"
    db._slot.release()


def _fill(db: Store, commits: int) -> None:
    """~4 MB through the WAL, in commits the size of a busy store's."""
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, blob TEXT)")
    for _ in range(commits):
        with db.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO filler (blob) VALUES (?)", ("x" * 16_000,))


def test_the_daemon_checkpoints_the_wal_in_the_background_not_inside_commits(tmp_path: Path) -> None:
    from edge.platform.checkpoint import WalCheckpointer

    db = Store.in_dir(tmp_path)
    db.migrate()
    db.set_background_checkpoints(True)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    before = (tmp_path / "edge.db").stat().st_size
    _fill(db, 250)
    # no commit copied the WAL back (SQLite's own would have, past 1,000 pages)...
    assert (tmp_path / "edge.db").stat().st_size == before
    # ...the checkpointer thread does, within a few of its rounds
    cp = WalCheckpointer(db.path, interval_s=0.05)
    cp.start()
    try:
        wait_for(lambda: (tmp_path / "edge.db").stat().st_size, 20, "the checkpointer to copy the WAL back",
                 until=lambda size: size >= before + 3_000_000)  # fmt: skip
    finally:
        cp.stop()
    assert cp.last_error == ""
    db.set_background_checkpoints(False)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    db.dispose()
