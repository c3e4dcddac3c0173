"""The store: one SQLite file (WAL) and the only two ways into it, `write()` and `read()`.

A domain never touches a connection, a lock or an fsync. `store.write()` takes the process
write slot before the first statement, and a durable write answers only after the fsync that
covers its commit (group commit, edge.platform.groupcommit): whether the transaction was written
with the ORM, a Core statement or `text()`, SQLite's own change counter decides whether there
is something to make durable, so no way of writing can skip the fsync. `store.read()` never
waits for anything and refuses to commit a write.

    with store.write() as tx:              # durable: answers after its fsync
        tx.execute(stmt, params)           # ORM and Core alike (tx is a SQLModel Session)
        tx.outbox("orders", "order_paid", payload)
        tx.mqtt(topic, message)            # published only once the commit is on disk
        tx.audit(actor, "checkout.paid", order_id)
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import Histogram
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import SessionTransaction
from sqlalchemy.sql import Executable
from sqlalchemy.util.typing import TupleAny
from sqlmodel import Session, SQLModel, create_engine

from edge.platform.errors import ResourceFault
from edge.platform.faults import FaultLog, classify
from edge.platform.groupcommit import WalSync
from edge.platform.schema import DB_NAME, Schema
from edge.platform.writeslot import NORMAL, WriteSlot

log = logging.getLogger(__name__)

_WRITE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
WRITE_WAIT_SECONDS = Histogram(
    "edge_db_write_wait_seconds", "Time a write transaction waited for the write slot", buckets=_WRITE_BUCKETS
)
WRITE_HOLD_SECONDS = Histogram(
    "edge_db_write_hold_seconds", "Time a write transaction held the write slot (statements and commit)",
    buckets=_WRITE_BUCKETS,
)  # fmt: skip

MqttListener = Callable[[list[Any]], None]


class WriteBusy(Exception):
    """The write slot (or a keyed lock) stayed taken longer than the caller would wait: nothing
    was written; run the same call again where waiting is allowed (a worker thread)."""


class ReadOnlyViolation(RuntimeError):
    """Something wrote inside `store.read()`: a bug, so the transaction is rolled back."""


def _pragmas(synchronous: str, store: Store) -> Callable[[sqlite3.Connection, Any], None]:
    def on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(store.busy_timeout_ms)}")
        if store.background_checkpoints:  # see edge.platform.checkpoint: no checkpoint inside a commit
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    return on_connect


def _changes(session: Session) -> int:
    """SQLite's count of rows changed on this session's connection since it was opened."""
    raw = session.connection().connection.dbapi_connection
    return int(raw.total_changes) if raw is not None else 0


class ReadTx(Session):
    """A transaction that reads (a SQLModel session); `store.read()` hands these out. It remembers
    SQLite's change counter at its start, so the store can tell whether it wrote."""

    _changes_at_begin: int | None = None

    def run(self, statement: Executable, params: Any = None) -> CursorResult[*TupleAny]:
        """A Core or text() statement straight on this transaction's connection, skipping the
        ORM's execution pipeline (several times the statement's own cost): the hot paths' way."""
        return self.connection().execute(statement, params)

    def wrote(self) -> bool:
        start = self._changes_at_begin
        return start is not None and _changes(self) != start


@event.listens_for(ReadTx, "after_begin")
def _remember_changes(session: ReadTx, _tx: SessionTransaction, conn: Connection) -> None:
    raw = conn.connection.dbapi_connection
    session._changes_at_begin = int(raw.total_changes) if raw is not None else 0


class Tx(ReadTx):
    """A write transaction: a SQLModel session holding the write slot, plus the side effects
    that must commit with the change (outbox event, MQTT message, audit row)."""

    store: Store
    must_be_durable = False

    def insert(self, *rows: SQLModel) -> None:
        """INSERT table-model objects with one Core statement per table (parents first).

        For hot paths: the ORM's flush costs several times the insert. The objects are not
        tracked: later changes to them are not saved."""
        by_table: dict[Any, list[dict[str, Any]]] = {}
        for row in rows:
            by_table.setdefault(type(row).__table__, []).append(row.model_dump())  # type: ignore[attr-defined]
        for table, values in by_table.items():
            self.execute(table.insert(), values)

    def outbox(self, stream: str, kind: str, payload: dict[str, Any], schema_version: int = 1) -> str:
        """Queue one event for the cloud in this transaction; returns its event id."""
        from edge.platform import outbox

        return outbox.add(self, stream, kind, payload, schema_version)

    def mqtt(self, topic: str, payload: dict[str, Any], *, retain: bool = False, qos: int = 1) -> str:
        """Queue an MQTT message in this transaction: it leaves the box only once the commit is
        on disk, so this makes even a `durable=False` transaction durable."""
        from edge.platform import mqttqueue

        self.must_be_durable = True
        return mqttqueue.enqueue(self, topic, payload, retain=retain, qos=qos)

    def audit(self, actor: str, action: str, subject: str = "", **detail: Any) -> str:
        """Who did what, kept locally and synced on the `audit` stream (never a face image or a secret)."""
        from edge.platform import audit

        return audit.record(self, actor, action, subject, **detail)

    def after_durable(self, hook: Callable[[], None]) -> None:
        """Run `hook` once this transaction's commit is on disk (after the fsync, outside the slot)."""
        self._hooks.append(hook)

    _hooks: list[Callable[[], None]]
    mqtt_rows: list[Any]


class Store:
    """The engine, the write slot and group commit for one SQLite file.

    SQLite has one writer. When threads collide, its busy handler sleeps with growing back-off
    (up to 100 ms a try), which turns a 4 ms write into hundreds of ms under load. So every
    write transaction takes this process's write slot first (edge.platform.writeslot): writers
    queue in Python, the most urgent first, and are handed the slot at once, while reads (WAL)
    never wait. Never call the network while a
    write is open.
    """

    def __init__(self, path: Path, busy_timeout_ms: int = 10_000) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        # How long a statement waits for another process (a backup, a CLI) before DatabaseBusy.
        self.busy_timeout_ms = busy_timeout_ms
        self.faults = FaultLog()
        args = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
        # True only while a WalCheckpointer runs (the daemon); short CLI runs keep SQLite's own.
        self.background_checkpoints = False
        # Every transaction: WAL with synchronous=NORMAL (frames written, not synced), made durable
        # by group commit after the write slot is released. Room for the HTTP worker threads, the
        # event loop and the background threads at once.
        self.engine: Engine = create_engine(self.url, connect_args=args, pool_size=16, max_overflow=48)
        event.listen(self.engine, "connect", _pragmas("NORMAL", self))
        # Schema changes and backups: synchronous=FULL, each commit fsynced by SQLite itself.
        self.schema_engine: Engine = create_engine(self.url, connect_args=args)
        event.listen(self.schema_engine, "connect", _pragmas("FULL", self))
        self.schema = Schema(path, self.schema_engine)
        self.wal_sync = WalSync(path)
        self._slot = WriteSlot()
        self._mqtt_listeners: list[MqttListener] = []

    @classmethod
    def in_dir(cls, data_dir: Path, busy_timeout_ms: int = 10_000) -> Store:
        return cls(data_dir / DB_NAME, busy_timeout_ms)

    # --- the two ways in ------------------------------------------------------------------
    @contextmanager
    def write(self, durable: bool = True, lock_wait_s: float | None = None, priority: int = NORMAL) -> Iterator[Tx]:
        """One write transaction: commit on success, roll back on any error.

        durable=True (money, calls, consents, audit) returns only once the commit is fsynced.
        durable=False is for state a power cut may lose (a cart line the shopper sees and
        rescans); it is still crash-safe. With lock_wait_s, WriteBusy is raised (nothing done)
        when the write slot stays taken that long. `priority` says who gets the slot first when
        writers queue (edge.platform.writeslot: INTERACTIVE, NORMAL, BACKGROUND). A full disk, a
        busy or damaged database and a failed fsync raise a ResourceFault (edge.platform.faults),
        remembered for /readyz."""
        with self._faults_typed(), self._write(durable, lock_wait_s, priority) as tx:
            yield tx
        self.faults.succeeded()

    @contextmanager
    def _write(self, durable: bool, lock_wait_s: float | None, priority: int) -> Iterator[Tx]:
        if durable:
            self.wal_sync.check()  # after a failed fsync nothing is trusted to reach the disk
        t0 = time.perf_counter()
        if not self._slot.acquire(priority, lock_wait_s):
            raise WriteBusy("the database write slot is taken")
        t1 = time.perf_counter()
        ticket = 0
        try:
            WRITE_WAIT_SECONDS.observe(t1 - t0)
            tx = Tx(self.engine, expire_on_commit=False)
            tx.store, tx._hooks, tx.mqtt_rows = self, [], []
            try:
                yield tx
                tx.flush()  # pending ORM objects count as written: flushed before the change counter is read
                wrote = tx.wrote()
                tx.commit()
            except BaseException:
                tx.rollback()
                raise
            finally:
                tx.close()
            if wrote and (durable or tx.must_be_durable):
                ticket = self.wal_sync.committed()
        finally:
            WRITE_HOLD_SECONDS.observe(time.perf_counter() - t1)
            self._slot.release()
        if ticket:
            self.wal_sync.wait(ticket)
        if tx.mqtt_rows:
            rows = sorted(tx.mqtt_rows, key=lambda r: r.seq)
            tx._hooks.insert(0, lambda: self._notify_mqtt(rows))
        _run_hooks(tx._hooks)

    @contextmanager
    def read(self) -> Iterator[ReadTx]:
        """A read transaction: never waits for the write slot or the disk. Writing in it is a
        bug (ReadOnlyViolation, rolled back)."""
        with self._faults_typed(), ReadTx(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                if session.wrote():
                    raise ReadOnlyViolation("a write was made inside store.read(); use store.write()")
            except BaseException:
                session.rollback()
                raise
            # Ends the read without expiring what it loaded (objects stay usable after the block);
            # there is nothing to commit, and nothing waits for the disk.
            session.commit()

    @contextmanager
    def _faults_typed(self) -> Iterator[None]:
        """Turn SQLite's and the disk's refusals into typed faults, and remember them."""
        try:
            yield
        except ResourceFault as fault:
            self.faults.failed(fault)
            raise
        except (DBAPIError, sqlite3.Error, OSError) as exc:
            typed = classify(exc)
            if typed is None:
                raise
            self.faults.failed(typed)
            raise typed from exc

    # --- for readers that send rows off the box, and the relay's wake-up ---------------------
    def sync_committed(self) -> None:
        """Make every commit so far durable: readers call it after reading and before sending
        what they read off the box (a row is readable a moment before its fsync)."""
        self.wal_sync.sync_all()

    def on_mqtt_committed(self, listener: MqttListener) -> None:
        """Hear of queued MQTT messages once their transaction is on disk (the relay publishes
        them at once instead of waiting for its poll)."""
        if listener not in self._mqtt_listeners:
            self._mqtt_listeners.append(listener)

    def off_mqtt_committed(self, listener: MqttListener) -> None:
        if listener in self._mqtt_listeners:
            self._mqtt_listeners.remove(listener)

    def _notify_mqtt(self, rows: list[Any]) -> None:
        for listener in list(self._mqtt_listeners):
            listener(rows)

    # --- lifecycle ------------------------------------------------------------------------
    def set_background_checkpoints(self, on: bool) -> None:
        """Switch automatic checkpoints off (a WalCheckpointer runs) or back on, for new connections."""
        self.background_checkpoints = on
        self.dispose()  # pooled connections were opened with the other setting

    def ping(self) -> None:
        self.wal_sync.check()
        with self.schema_engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def migrate(self, backups_keep: int = 5) -> list[str]:
        return self.schema.migrate(backups_keep)

    def dispose(self) -> None:
        self.engine.dispose()
        self.schema_engine.dispose()


def _run_hooks(hooks: list[Callable[[], None]]) -> None:
    for hook in hooks:
        try:
            hook()
        except Exception:  # a listener's failure must not turn a committed sale into an error
            log.exception("store: after-durable hook failed")
