"""Finding 6 and the resource faults behind it: a real full disk (a small tmpfs), a database held
by another process past the busy timeout and a damaged database file each answer a typed 503,
never a 500; payment paths say whether money moved; /readyz reports free space and the last
write failure, and everything works again once the fault is gone."""

from __future__ import annotations

import errno
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from edge.checkout.service import CheckoutServices
from edge.fitting.service import FittingService
from tests.integration.test_checkout_money import TEA, cart, checkout, money_store, network, paid_order, refund
from tests.integration.test_fitting_api import ROOMS, phone_headers
from tests.support.inproc import STAFF_PASSWORD


@contextmanager
def small_disk(path: Path, mb: int) -> Iterator[Path]:
    """A real filesystem of `mb` MiB (tmpfs; needs root, as CI has)."""
    path.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mb}m", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        # the suite runs as root (the README's test command); without it this test cannot prove anything
        pytest.fail(f"cannot mount a small tmpfs for the full-disk test (run as root): {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path, name: str) -> Path:
    """Write until the filesystem says ENOSPC: the disk is full for everyone."""
    filler = disk / name
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 20, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


def _error(r: Any) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]


def test_f06_a_full_disk_is_a_typed_503_everywhere_readyz_says_so_and_nothing_is_charged(tmp_path: Path) -> None:
    overrides = {"fitting": ROOMS, "storage": {"data_dir": str(tmp_path / "disk" / "data"), "min_free_mb": 8}}
    with small_disk(tmp_path / "disk", 64) as disk, money_store(disk / "data", overrides) as st:
        c, kiosk, staff, gate, daemon = st["client"], st["kiosk"], st["staff"], st["gate"], st["daemon"]
        oid, _key = paid_order(st, qty=2)
        pass_token = daemon.ctx.own(CheckoutServices).pass_token(oid)
        room = daemon.ctx.own(FittingService).codes.token("room-1")
        phone = phone_headers(c, room)
        sid = cart(st, TEA)
        assert c.get("/readyz").json()["components"]["db"]["status"] == "ok"

        # The WAL's reusable space is given back first, so every write must grow a file (with
        # slack left in the WAL, SQLite keeps committing small writes on a full disk).
        db = next(comp for comp in daemon.components if comp.name == "db")
        db.checkpointer.stop()  # type: ignore[attr-defined]
        first = fill(disk, "filler-1")
        with sqlite3.connect(daemon.ctx.store.path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        second = fill(disk, "filler-2")

        r = checkout(st, sid)
        assert _error(r) == (503, "disk_full") and r.json()["error"]["details"]["charged"] is False, r.text
        assert network(st).charges(sid) == [], "the shopper's payment was asked for on a full disk"
        assert "disk is full" in r.json()["error"]["message"]
        r = refund(st, oid, {"lines": [{"line_no": 1, "qty": 1}], "reason": "full disk"})
        assert _error(r) == (503, "disk_full") and r.json()["error"]["details"]["refunded"] is False, r.text
        writes = {
            "new cart": c.post("/api/kiosk/sessions", json={}, headers=kiosk),
            "scan": c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=kiosk),
            "gate": c.post("/api/gate/verify", json={"text": pass_token}, headers=gate),
            "call": c.post(f"/api/fitting/rooms/{room}/calls", json={"kind": "help"}, headers=phone),
            "void": c.post(f"/api/checkout/orders/{oid}/void", json={"reason": "x"}, headers=staff),
            "login": c.post("/api/auth/login", json={"username": "it-admin", "password": STAFF_PASSWORD}),
        }
        assert {k: _error(r) for k, r in writes.items()} == {k: (503, "disk_full") for k in writes}
        ready = c.get("/readyz")
        db_health = ready.json()["components"]["db"]
        assert ready.status_code == 503 and db_health["status"] == "down", ready.text
        assert db_health["details"]["free_bytes"] < 1 << 20
        assert db_health["details"]["last_write_failure"]["code"] == "disk_full"

        first.unlink()
        second.unlink()
        r = checkout(st, sid)  # the same cart, paid once now that there is room
        assert r.status_code == 200, r.text
        assert len(network(st).charges(sid)) == 1
        assert c.post("/api/gate/verify", json={"text": pass_token}, headers=gate).json()["open"] is True
        ready = c.get("/readyz").json()
        assert ready["components"]["db"]["status"] == "ok", ready
        assert ready["components"]["db"]["details"]["last_write_failure"]["code"] == "disk_full"  # kept for IT


def test_a_database_held_by_another_process_is_a_typed_503_and_nothing_is_charged(tmp_path: Path) -> None:
    overrides = {"storage": {"data_dir": str(tmp_path / "data"), "busy_timeout_ms": 300}}
    with money_store(tmp_path / "data", overrides) as st:
        c, kiosk = st["client"], st["kiosk"]
        sid = cart(st, TEA)
        other = sqlite3.connect(st["daemon"].ctx.store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # a backup script or a CLI holding the write lock
        try:
            r = checkout(st, sid)
            assert _error(r) == (503, "database_busy") and r.json()["error"]["details"]["charged"] is False
            assert _error(c.post("/api/kiosk/sessions", json={}, headers=kiosk)) == (503, "database_busy")
            assert network(st).charges(sid) == []
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert checkout(st, sid).status_code == 200


def test_a_damaged_database_page_is_a_typed_503_not_a_500(tmp_path: Path) -> None:
    with money_store(tmp_path / "data") as st:
        c, kiosk, store = st["client"], st["kiosk"], st["daemon"].ctx.store
        sid = cart(st, TEA)
        with sqlite3.connect(store.path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'kiosk_session'").fetchone()
        with open(store.path, "r+b") as f:  # the table's b-tree page, as a failing disk would return it
            f.seek((root - 1) * page_size)
            f.write(b"\xa5" * page_size)
        store.dispose()  # no connection keeps the good page in its cache
        r = c.get(f"/api/kiosk/sessions/{sid}", headers=kiosk)
        assert _error(r) == (503, "database_corrupt"), r.text
        assert "backup" in r.json()["error"]["message"]
        ready = c.get("/readyz").json()["components"]["db"]
        assert ready["status"] == "down" and ready["details"]["last_write_failure"]["code"] == "database_corrupt"
