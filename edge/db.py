"""SQLite (WAL) through SQLModel, with Alembic migrations run after a backup.

Durable by default: the box writes money and guide calls, and a power cut must not lose a
committed row. Durable sessions get there by group commit (edge.groupcommit): the WAL is
fsynced after the write slot is released, once for every commit that landed meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import ORMExecuteState
from sqlmodel import Session, SQLModel, create_engine

from edge.errors import StartupRefused
from edge.groupcommit import WalSync
from edge.timeutil import utcnow

log = logging.getLogger(__name__)

DB_NAME = "edge.db"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MB = 1024 * 1024
BACKUP_HEADROOM = 16 * MB  # the copy's own journal, plus room for the migration that follows


def _pragmas(synchronous: str, db: Database) -> Any:
    def on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        if db.background_checkpoints:  # see edge.checkpoint: no checkpoint inside a commit
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    return on_connect


def check_data_dir(data_dir: Path, min_free_mb: int) -> None:
    """Refuse early, with a sentence, rather than crash later in the middle of a sale."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupRefused(f"cannot create data dir {data_dir}: {exc.strerror}") from exc
    probe = data_dir / ".write-probe"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise StartupRefused(f"data dir {data_dir} is not writable: {exc.strerror}") from exc
    free_mb = free_bytes(data_dir) // MB
    if free_mb < min_free_mb:
        raise StartupRefused(
            f"disk under {data_dir} has {free_mb} MB free, below storage.min_free_mb={min_free_mb}; free space first"
        )


_WRITE_LOCKS: dict[Path, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(path: Path) -> threading.RLock:
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(path.resolve(), threading.RLock())


class WriteBusy(Exception):
    """The write lock (or a cart's lock) stayed taken longer than the caller would wait: nothing
    was written; run the same call again where waiting is allowed (a worker thread)."""


def hold_write_lock(session: Session, lock_wait_s: float | None = None) -> None:
    """Take the process write lock for this session's transaction now (idempotent); for writes
    that bypass the ORM's flush and execute hooks (Core statements on `session.connection()`).
    With lock_wait_s it raises WriteBusy after waiting that long instead of queueing on."""
    if "write_lock" not in session.info:  # not a Database.session(): nothing to queue on
        return
    if not session.info.get("write_lock_held"):
        if not session.info["write_lock"].acquire(True, -1 if lock_wait_s is None else lock_wait_s):
            raise WriteBusy("the database write slot is taken")
        session.info["write_lock_held"] = True


def insert_rows(session: Session, *rows: SQLModel) -> None:
    """INSERT table-model objects with one Core statement per table, on the session's connection.

    For hot write paths: the ORM's flush (unit of work, identity map, events) costs several times
    the insert itself. Rows are inserted in the order their tables first appear (parents first),
    and the objects are not tracked: later changes to them are not saved.
    """
    hold_write_lock(session)
    by_table: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        by_table.setdefault(type(row).__table__, []).append(row.model_dump())  # type: ignore[attr-defined]
    conn = session.connection()
    for table, values in by_table.items():
        conn.execute(table.insert(), values)


_AFTER_DURABLE = "after_durable"
_MUST_BE_DURABLE = "must_be_durable"


def require_durable(session: Session) -> None:
    """Make this transaction durable even in a durable=False session: it holds something that
    leaves the box (an MQTT message), and nothing leaves before it is on disk."""
    session.info[_MUST_BE_DURABLE] = True


def after_durable(session: Session, hook: Callable[[], None]) -> None:
    """Run `hook` once the session's commit is on disk (at once when it is not a Database session).

    For post-commit work that others can see, such as publishing an MQTT message: with group
    commit a row is readable a moment before its fsync, and nothing may leave the box before."""
    hooks = session.info.get(_AFTER_DURABLE)
    if hooks is None:
        hook()
    else:
        hooks.append(hook)


def _run_hooks(hooks: list[Callable[[], None]]) -> None:
    for hook in hooks:
        try:
            hook()
        except Exception:  # a listener's failure must not turn a committed sale into an error
            log.exception("db: after-durable hook failed")


def _on_flush(session: Session, _ctx: object, _instances: object) -> None:
    if session.new or session.dirty or session.deleted:
        hold_write_lock(session)


def _on_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        hold_write_lock(state.session)  # type: ignore[arg-type]


class _DbSession(Session):
    """Sessions from Database.session(): the write-lock hooks are registered once on this class
    (listening per session instance cost ~0.1 ms a transaction)."""


event.listen(_DbSession, "before_flush", _on_flush)
event.listen(_DbSession, "do_orm_execute", _on_execute)


class Database:
    """The engine and session factory for one SQLite file.

    SQLite has one writer. When threads collide, its busy handler sleeps with growing back-off
    (up to 100 ms a try), which turns a 4 ms write into hundreds of ms under load. So every
    session takes this process's write lock at its first write (flush or DML) and holds it to
    the end of the transaction: writers queue on a Python lock and are handed the slot at once,
    while reads (WAL) never wait. Never call the network while a write is open.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.write_lock = _write_lock(path)
        self.url = f"sqlite:///{path}"
        args = {"check_same_thread": False, "timeout": 10}
        self.engine: Engine = create_engine(self.url, connect_args=args)
        # True only while a WalCheckpointer runs (the daemon); short CLI runs keep SQLite's own.
        self.background_checkpoints = False
        event.listen(self.engine, "connect", _pragmas("FULL", self))
        # For state that is cheap to lose in a power cut (a cart line the shopper can rescan):
        # WAL with synchronous=NORMAL survives a crash of the process, skips the fsync per commit.
        # Every session uses this pool now (durable ones too, see session()): room for the HTTP
        # worker threads, the event loop and the background threads at once.
        self.relaxed_engine: Engine = create_engine(self.url, connect_args=args, pool_size=16, max_overflow=48)
        event.listen(self.relaxed_engine, "connect", _pragmas("NORMAL", self))
        # Durable sessions also commit on relaxed_engine, then wait for this group fsync.
        self.wal_sync = WalSync(path)

    @classmethod
    def in_dir(cls, data_dir: Path) -> Database:
        return cls(data_dir / DB_NAME)

    @contextmanager
    def session(self, durable: bool = True) -> Iterator[Session]:
        """One transaction per use case: commit on success, roll back on any error.

        A durable session returns only once its commit is fsynced (group commit, outside the
        write lock). durable=False skips that (still crash-safe, not power-cut-safe): only for
        state nobody loses money or a call over, never for orders, payments, passes or calls.
        """
        ticket = 0
        hooks: list[Callable[[], None]] = []
        if durable:
            self.wal_sync.check()  # after a failed fsync nothing is trusted to reach the disk
        with _DbSession(self.relaxed_engine, expire_on_commit=False) as session:
            session.info["write_lock"] = self.write_lock
            session.info[_AFTER_DURABLE] = hooks
            try:
                yield session
                session.commit()
                if (durable or session.info.get(_MUST_BE_DURABLE)) and session.info.get("write_lock_held"):
                    ticket = self.wal_sync.committed()
            except Exception:
                session.rollback()
                raise
            finally:
                if session.info.pop("write_lock_held", False):
                    self.write_lock.release()
        if ticket:
            self.wal_sync.wait(ticket)
        _run_hooks(hooks)

    @contextmanager
    def write_conn(self, durable: bool = True) -> Iterator[Connection]:
        """A Core connection in one transaction, for bulk writes (mark sent, delete acked),
        queued on the same process write lock as sessions."""
        if durable:
            self.wal_sync.check()
        with self.write_lock, self.relaxed_engine.begin() as conn:
            yield conn
        if durable:
            self.wal_sync.wait(self.wal_sync.committed())

    def set_background_checkpoints(self, on: bool) -> None:
        """Switch automatic checkpoints off (a WalCheckpointer runs) or back on, for new connections."""
        self.background_checkpoints = on
        self.engine.dispose()  # pooled connections were opened with the other setting
        self.relaxed_engine.dispose()

    def ping(self) -> None:
        self.wal_sync.check()
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        self.relaxed_engine.dispose()

    # --- migrations -------------------------------------------------------------------
    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url)
        cfg.attributes["engine"] = self.engine
        return cfg

    def current_revisions(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())

    def pending(self) -> tuple[set[str], set[str]]:
        """(current, heads). Refuses a database written by a newer version of the daemon."""
        script = ScriptDirectory.from_config(self.alembic_config())
        heads = set(script.get_heads())
        current = self.current_revisions()
        known = {rev.revision for rev in script.walk_revisions()}
        unknown = current - known
        if unknown:
            raise StartupRefused(
                f"database {self.path} has schema revision {', '.join(sorted(unknown))}, newer than this "
                "version of retail-edge knows; install the newer version or restore a backup"
            )
        return current, heads

    def _has_tables(self) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type='table'").scalar())

    def backup(self, keep: int) -> Path | None:
        """A consistent copy (SQLite online backup) before touching the schema.

        Refuses (StartupRefused) rather than crash when the copy cannot fit or cannot be written:
        a half-written backup is removed, and the database itself is left untouched.
        """
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None
        backups = self.path.parent / "backups"
        wal = self.path.with_name(self.path.name + "-wal")
        needed = self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0) + BACKUP_HEADROOM
        free = free_bytes(self.path.parent)
        if free < needed:
            raise StartupRefused(
                f"not enough free disk to back up {self.path} before migrating: {free // MB} MB free, "
                f"{-(-needed // MB)} MB needed; free space (or remove old files in {backups}) and start again"
            )
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        target = backups / f"edge-{stamp}.db"
        try:
            backups.mkdir(exist_ok=True)
            src = sqlite3.connect(self.path)
            try:
                dst = sqlite3.connect(target)
                try:
                    src.backup(dst)
                finally:
                    dst.close()
            finally:
                src.close()
            os.chmod(target, 0o600)
        except (sqlite3.Error, OSError) as exc:
            with contextlib.suppress(OSError):
                target.unlink(missing_ok=True)
            reason = "the disk is full" if _is_disk_full(exc) else str(exc)
            raise StartupRefused(
                f"cannot back up {self.path} to {backups} before migrating ({reason}); "
                "the database was not changed; free space or fix the directory and start again"
            ) from exc
        existing = sorted(backups.glob("edge-*.db"))
        for old in existing[: max(0, len(existing) - keep)]:
            old.unlink(missing_ok=True)
        return target

    def migrate(self, backups_keep: int = 5) -> list[str]:
        """Upgrade to every head; a no-op (and no backup) when already current."""
        try:
            current, heads = self.pending()
            if current == heads:
                return []
            backup = self.backup(backups_keep) if self._has_tables() else None
            if backup:
                log.info("backed up database to %s before migrating", backup)
            command.upgrade(self.alembic_config(), "heads")
            return sorted(heads - current)
        except OperationalError as exc:
            raise StartupRefused(f"cannot migrate {self.path}: {_sqlite_reason(exc)}") from exc


def free_bytes(path: Path) -> int:
    """Free space for this process on the filesystem holding `path` (a seam for tests)."""
    return shutil.disk_usage(path).free


def _is_disk_full(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) == errno.ENOSPC or "full" in str(exc)


def _sqlite_reason(exc: OperationalError) -> str:
    msg = str(exc.orig) if exc.orig else str(exc)
    if "disk is full" in msg or "database or disk is full" in msg:
        return "the disk is full; free space and start again"
    if "readonly" in msg or "read-only" in msg:
        return "the database file is read-only"
    return msg
