"""Checkout's write transactions: the database's process write lock, taken up front.

SQLite allows one writer; when threads collide, its busy handler sleeps with growing back-off
(up to 100 ms a try), which turned a 4 ms cart write into seconds under 20 busy kiosks. The
database hands the write slot over through a Python lock (edge.db); checkout takes it before
its first read so a read-check-write sequence sees no other writer in between. Never call a
payment provider while holding it.

Also the per-cart (and per-order, "order:<id>") locks: a checkout holds its cart's lock from
pricing to the committed order, so recovery can tell an in-flight payment from an orphan.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from edge.db import Database, WriteBusy, hold_write_lock


class _KeyedLocks:
    """One lock per key, created on first use and dropped when nobody holds or waits for it.

    Striped locks (a fixed array indexed by a hash) made an add-item on one kiosk wait for a
    checkout on another whenever their ids shared a stripe (20 kiosks on 64 stripes collide
    often), and a checkout holds its lock through the payment."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, list[int]]] = {}

    @contextmanager
    def hold(self, key: str, timeout: float | None = None) -> Iterator[bool]:
        """Yields whether the lock was taken: always with timeout None, else within `timeout` s."""
        with self._guard:
            lock, users = self._locks.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        got = False
        try:
            got = lock.acquire(False) if timeout == 0 else lock.acquire(True, -1 if timeout is None else timeout)
            yield got
        finally:
            if got:
                lock.release()
            with self._guard:
                users[0] -= 1
                if users[0] == 0:
                    del self._locks[key]


_LOCKS = _KeyedLocks()


@contextmanager
def session_lock(session_id: str, lock_wait_s: float | None = None) -> Iterator[None]:
    """The cart's lock; raises WriteBusy when another change or a checkout holds it for longer
    than lock_wait_s (None: wait as long as it takes)."""
    with _LOCKS.hold(session_id, lock_wait_s) as got:
        if not got:
            raise WriteBusy("this cart is being changed")
        yield


@contextmanager
def session_lock_if_free(session_id: str) -> Iterator[bool]:
    """Take the session's lock only if nobody holds it: a held lock means a checkout is in flight."""
    with _LOCKS.hold(session_id, 0) as got:
        yield got


@contextmanager
def writing(db: Database, durable: bool = True, lock_wait_s: float | None = None) -> Iterator[Session]:
    """A write transaction (commit on success, roll back on error) holding the process write lock.

    durable=False is for cart edits only (see Database.session): a power cut may forget the last
    scanned line, which the shopper sees and rescans; money is always written durably.
    """
    with db.session(durable=durable) as s:
        hold_write_lock(s, lock_wait_s)  # before the first read; released at commit, before the group fsync
        yield s
