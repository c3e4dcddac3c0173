"""The one write API cannot lose an fsync: whatever a durable `store.write()` writes with (the ORM,
a Core statement, text(), the outbox, the MQTT queue, the audit log), it answers only after an
fsync that began after its commit; `store.read()` refuses to commit a write; and a domain has no
other way to write (no connection, engine, lock, fsync or sqlite3 of its own)."""

from __future__ import annotations

import ast
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlmodel import select

from edge.platform.audit import AuditEvent
from edge.platform.outbox import OutboxEvent
from edge.platform.store import ReadOnlyViolation, Store, Tx

EDGE = Path(__file__).resolve().parents[2] / "edge"
DOMAIN_DIRS = [p for p in EDGE.iterdir() if (p / "__init__.py").exists() and p.name not in ("platform", "migrations")]


class HeldDisk:
    """os.fdatasync that waits for a release: a durable write must still be waiting then."""

    def __init__(self) -> None:
        self.real, self.calls = os.fdatasync, 0
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(10)
        self.real(fd)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.in_dir(tmp_path)
    s.migrate()
    with s.write() as tx:
        tx.outbox("audit", "seed", {"n": 0})
    yield s
    s.dispose()


PATHS: dict[str, Callable[[Tx], object]] = {
    "orm add": lambda tx: tx.add(AuditEvent(actor="t", action="orm")),
    "core update": lambda tx: tx.execute(update(OutboxEvent).values(attempts=OutboxEvent.attempts + 1)),
    "text on the connection": lambda tx: tx.run(text("UPDATE outbox_event SET attempts = attempts + 1")),
    "text through the session": lambda tx: tx.execute(text("DELETE FROM outbox_event WHERE seq < 0 OR kind='seed'")),
    "insert rows": lambda tx: tx.insert(AuditEvent(actor="t", action="insert")),
    "outbox": lambda tx: tx.outbox("orders", "order.paid", {"n": 1}),
    "audit": lambda tx: tx.audit("t", "audited"),
    "mqtt (even in a durable=False write)": lambda tx: tx.mqtt("retail/s/fitting/r/call", {"x": 1}),
}


@pytest.mark.parametrize("how", sorted(PATHS))
def test_every_write_path_answers_only_after_its_fsync(store: Store, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    disk = HeldDisk()
    monkeypatch.setattr(os, "fdatasync", disk)
    returned = threading.Event()

    def write() -> None:
        with store.write(durable="durable=False" not in how) as tx:
            PATHS[how](tx)
        returned.set()

    t = threading.Thread(target=write)
    t.start()
    assert disk.entered.wait(10), f"{how}: no fsync was started for a durable write"
    assert not returned.is_set(), f"{how}: the write answered before its data was on disk"
    disk.release.set()
    t.join(10)
    assert returned.is_set() and disk.calls == 1


def test_a_write_that_changes_nothing_waits_for_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = HeldDisk()
    disk.release.set()
    monkeypatch.setattr(os, "fdatasync", disk)
    with store.write() as tx:
        tx.run(text("UPDATE outbox_event SET attempts = 0 WHERE seq < 0"))
        tx.exec(select(OutboxEvent)).all()
    with store.write(durable=False) as tx:
        tx.outbox("audit", "cart", {})
    assert disk.calls == 0


def test_a_read_refuses_to_commit_a_write(store: Store) -> None:
    with pytest.raises(ReadOnlyViolation), store.read() as r:
        r.execute(text("DELETE FROM outbox_event"))
    with store.read() as r:
        assert r.exec(select(OutboxEvent)).all(), "the delete was rolled back"


# --- no other way to write from a domain ---------------------------------------------------------
FORBIDDEN_CALLS = {"connection", "fsync", "fdatasync", "create_engine", "sync_all", "committed"}
FORBIDDEN_NAMES = {"engine", "schema_engine", "wal_sync", "_slot", "dbapi_connection"}
FORBIDDEN_MODULES = {"sqlite3", "edge.platform.groupcommit"}


def bypasses(path: Path) -> list[str]:
    """Every place in a domain module that could write around the store's write API."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FORBIDDEN_CALLS:
            out.append(f"{path.name}:{node.lineno}: .{node.func.attr}()")
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_NAMES:
            out.append(f"{path.name}:{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            out += [f"{path.name}:{node.lineno}: import {n}" for n in names if n in FORBIDDEN_MODULES]
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("Session", "sqlmodel.Session"):
            out.append(f"{path.name}:{node.lineno}: a Session of its own")
    return sorted(out, key=lambda s: int(s.split(":")[1]))


# The sandbox acquirer simulator keeps its own books in a file of its own (another system's
# ledger, never the store's database); it is the one module that may open SQLite itself.
SIMULATORS = {"checkout/payments.py"}


def test_no_domain_can_write_around_the_store() -> None:
    found = [
        f"{d.name}/{b}"
        for d in DOMAIN_DIRS
        for path in sorted(d.rglob("*.py"))
        for b in bypasses(path)
        if path.relative_to(EDGE).as_posix() not in SIMULATORS
    ]
    assert found == []


def test_the_bypass_check_catches_a_planted_one(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        "import sqlite3\nfrom sqlmodel import Session\n"
        "def f(s, store):\n    s.connection().execute('x')\n    store.engine.connect()\n    Session(store)\n"
    )
    assert bypasses(planted) == [
        "planted.py:1: import sqlite3",
        "planted.py:4: .connection()",
        "planted.py:5: .engine",
        "planted.py:6: a Session of its own",
    ]
