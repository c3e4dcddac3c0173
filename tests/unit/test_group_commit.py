"""Group commit: a durable session answers only after its WAL fsync, the fsync runs outside the
write lock (the next cart edit does not wait for the disk), and one fsync serves many commits."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from edge.db import Database
from edge.mqtt import queue
from edge.sync import outbox
from edge.sync.store import OutboxStore


class DiskSpy:
    """Wraps os.fdatasync: records which files were synced, and can hold a sync until released."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.real = os.fdatasync
        self.synced: list[str] = []
        self.lock_free_during_sync: list[bool] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.fail_next = False

    def __call__(self, fd: int) -> None:
        self.entered.set()
        self.synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        self.lock_free_during_sync.append(_free_elsewhere(self.db.write_lock))
        assert self.hold.wait(10)
        if self.fail_next:
            self.fail_next = False
            raise OSError(5, "Input/output error")
        self.real(fd)


def _free_elsewhere(lock: threading.RLock) -> bool:
    """Whether another thread could take the lock now (an RLock is always free to its owner)."""
    got: list[bool] = []

    def probe() -> None:
        ok = lock.acquire(blocking=False)
        if ok:
            lock.release()
        got.append(ok)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return got[0]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database.in_dir(tmp_path)
    d.migrate()
    yield d
    d.dispose()


@pytest.fixture
def disk(db: Database, monkeypatch: pytest.MonkeyPatch) -> DiskSpy:
    spy = DiskSpy(db)
    monkeypatch.setattr(os, "fdatasync", spy)
    return spy


def _write(db: Database, n: int, durable: bool = True) -> None:
    with db.session(durable=durable) as s:
        outbox.add(s, "audit", "w", {"n": n})


def test_durable_commit_syncs_the_wal_outside_the_write_lock(db: Database, disk: DiskSpy) -> None:
    _write(db, 1)
    assert disk.synced == [str(db.path) + "-wal"]
    assert disk.lock_free_during_sync == [True]
    _write(db, 2, durable=False)  # a cart line: no fsync
    with db.session() as s:  # a read-only session has nothing to make durable
        list(s.exec(select(outbox.OutboxEvent)))
    assert len(disk.synced) == 1


def test_commits_during_one_fsync_share_the_next(db: Database, disk: DiskSpy) -> None:
    disk.hold.clear()
    first = threading.Thread(target=_write, args=(db, 1))
    first.start()
    assert disk.entered.wait(10)  # the first commit is in its fsync, holding no lock
    _write(db, 2, durable=False)  # another kiosk's cart edit gets the write slot at once
    done: list[int] = []

    def durable(n: int) -> None:
        _write(db, n)
        done.append(n)

    later = [threading.Thread(target=durable, args=(n,)) for n in (3, 4)]
    for t in later:
        t.start()
    for _ in range(200):  # both have committed and wait for a sync that started after them
        if db.wal_sync._issued == 3:
            break
        threading.Event().wait(0.01)
    assert db.wal_sync._issued == 3
    assert done == [], "a durable commit answered before its data was on disk"
    disk.hold.set()
    for t in [first, *later]:
        t.join(10)
    assert sorted(done) == [3, 4]
    assert len(disk.synced) == 2, "commits 3 and 4 should share one fsync"
    with db.session() as s:
        assert len(list(s.exec(select(outbox.OutboxEvent)))) == 4


def test_a_failed_fsync_is_an_error_for_the_caller_and_the_next_commit_syncs_again(db: Database, disk: DiskSpy) -> None:
    disk.fail_next = True
    with pytest.raises(OSError):
        _write(db, 1)
    _write(db, 2)
    assert len(disk.synced) == 2


def test_mqtt_listeners_hear_of_a_commit_only_after_its_fsync(db: Database, disk: DiskSpy) -> None:
    heard: list[int] = []

    def listener(rows: list[queue.Committed]) -> None:
        heard.append(len(disk.synced))

    queue.add_commit_listener(listener)
    try:
        with db.session() as s:
            queue.enqueue(s, "retail/s1/fitting/r1/call", {"state": "open"})
    finally:
        queue.remove_commit_listener(listener)
    assert heard == [1]


def test_the_uploader_reads_nothing_it_could_send_before_an_fsync(db: Database, disk: DiskSpy) -> None:
    _write(db, 1, durable=False)
    assert disk.synced == []
    rows = OutboxStore(db).next_batch(10, 1 << 20)
    assert len(rows) == 1 and len(disk.synced) == 1
