"""Group commit: a durable session answers only after its WAL fsync, the fsync runs outside the
write lock (the next cart edit does not wait for the disk), and one fsync serves many commits."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import text
from sqlmodel import select

from edge.platform import mqttqueue as queue
from edge.platform import outbox
from edge.platform.errors import DiskFailed
from edge.platform.store import Store
from edge.platform.writeslot import WriteSlot
from edge.sync.store import OutboxStore
from tests.support.waits import wait_for


class DiskSpy:
    """Wraps os.fdatasync: records which files were synced, and can hold a sync until released."""

    def __init__(self, db: Store) -> None:
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
        self.lock_free_during_sync.append(_free_elsewhere(self.db._slot))
        assert self.hold.wait(10)
        if self.fail_next:
            self.fail_next = False
            raise OSError(5, "Input/output error")
        self.real(fd)


def _free_elsewhere(slot: WriteSlot) -> bool:
    """Whether another thread could take the write slot now (it is always free to its holder)."""
    got: list[bool] = []

    def probe() -> None:
        ok = slot.acquire(timeout=0)
        if ok:
            slot.release()
        got.append(ok)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return got[0]


@pytest.fixture
def disk(db: Store, monkeypatch: pytest.MonkeyPatch) -> DiskSpy:
    spy = DiskSpy(db)
    monkeypatch.setattr(os, "fdatasync", spy)
    return spy


def _write(db: Store, n: int, durable: bool = True) -> None:
    with db.write(durable=durable) as s:
        s.outbox("audit", "w", {"n": n})


def test_durable_commit_syncs_the_wal_outside_the_write_lock(db: Store, disk: DiskSpy) -> None:
    _write(db, 1)
    assert disk.synced == [str(db.path) + "-wal"]
    assert disk.lock_free_during_sync == [True]
    _write(db, 2, durable=False)  # a cart line: no fsync
    with db.read() as s:  # a read-only session has nothing to make durable
        list(s.exec(select(outbox.OutboxEvent)))
    assert len(disk.synced) == 1


def test_commits_during_one_fsync_share_the_next(db: Store, disk: DiskSpy) -> None:
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
    # both have committed and wait for a sync that started after them
    wait_for(lambda: db.wal_sync._issued, 10, "commits 3 and 4 to be issued", until=lambda n: n == 3)
    assert done == [], "a durable commit answered before its data was on disk"
    disk.hold.set()
    for t in [first, *later]:
        t.join(10)
    assert sorted(done) == [3, 4]
    assert len(disk.synced) == 2, "commits 3 and 4 should share one fsync"
    with db.read() as s:
        assert len(list(s.exec(select(outbox.OutboxEvent)))) == 4


def _rows(db: Store) -> int:
    with db.write(durable=False) as s:
        return len(list(s.exec(select(outbox.OutboxEvent))))


def test_a_failed_fsync_fails_every_waiter_and_refuses_durable_writes_until_restart(db: Store, disk: DiskSpy) -> None:
    disk.hold.clear()
    disk.fail_next = True
    errors: list[BaseException] = []

    def durable(n: int) -> None:
        try:
            _write(db, n)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    first = threading.Thread(target=durable, args=(1,))
    first.start()
    assert disk.entered.wait(10)
    second = threading.Thread(target=durable, args=(2,))  # commits during the failing fsync
    second.start()
    try:  # the second has committed and waits for the sync after the failing one
        wait_for(lambda: db.wal_sync._issued, 10, "the second commit to be issued", until=lambda n: n == 2)
    finally:
        disk.hold.set()
    first.join(10)
    second.join(10)
    assert [type(e) for e in errors] == [DiskFailed, DiskFailed], "no one may be told their write is safe"
    assert errors[0].code == "disk_failed"  # type: ignore[attr-defined]
    before = _rows(db)
    with pytest.raises(DiskFailed):
        _write(db, 3)
    assert _rows(db) == before, "a durable write after the failure must not even commit"
    with pytest.raises(DiskFailed):
        db.ping()  # readiness reports the database down
    _write(db, 4, durable=False)  # a cart line still works: it never promised the disk
    assert len(disk.synced) == 1


def test_a_bulk_write_waits_for_its_fsync_only_when_durable(db: Store, disk: DiskSpy) -> None:
    _write(db, 1, durable=False)
    with db.write(durable=False) as tx:
        tx.run(text("DELETE FROM outbox_event"))
    assert disk.synced == []
    _write(db, 2, durable=False)
    with db.write() as tx:
        tx.run(text("DELETE FROM outbox_event"))
    assert len(disk.synced) == 1 and disk.lock_free_during_sync == [True]


def test_mqtt_listeners_hear_of_a_commit_only_after_its_fsync(db: Store, disk: DiskSpy) -> None:
    heard: list[int] = []

    def listener(rows: list[queue.Committed]) -> None:
        heard.append(len(disk.synced))

    db.on_mqtt_committed(listener)
    try:
        with db.write() as s:
            s.mqtt("retail/s1/fitting/r1/call", {"state": "open"})
        # A message queued in a durable=False session (the age-check alert with a cart line)
        # makes that transaction durable: it leaves the box, so it must be on disk first.
        with db.write(durable=False) as s:
            s.mqtt("retail/s1/checkout/k1/alert", {"type": "checkout.age_check"})
    finally:
        db.off_mqtt_committed(listener)
    assert heard == [1, 2]


def test_the_uploader_reads_nothing_it_could_send_before_an_fsync(db: Store, disk: DiskSpy) -> None:
    _write(db, 1, durable=False)
    assert disk.synced == []
    rows = OutboxStore(db).next_batch(10, 1 << 20)
    assert len(rows) == 1 and len(disk.synced) == 1
