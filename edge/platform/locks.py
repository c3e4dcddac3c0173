"""Keyed locks: one lock per key (a cart, an order), made on first use and dropped when idle.

A checkout holds its cart's lock from pricing to the committed order (through the payment
call, never inside a write transaction), so recovery can tell an in-flight payment from an
orphan, and a scan racing a tap on the same cart waits its turn.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from edge.platform.store import WriteBusy


class KeyedLocks:
    """Striped locks (a fixed array indexed by a hash) made an add-item on one kiosk wait for a
    checkout on another whenever their ids shared a stripe, and a checkout holds its lock
    through the payment; so each key gets a lock of its own."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, list[int]]] = {}

    @contextmanager
    def _hold(self, key: str, timeout: float | None) -> Iterator[bool]:
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

    @contextmanager
    def hold(self, key: str, wait_s: float | None = None) -> Iterator[None]:
        """Hold `key`'s lock; raises WriteBusy (nothing done) when it stays taken longer than
        wait_s (None: wait as long as it takes)."""
        with self._hold(key, wait_s) as got:
            if not got:
                raise WriteBusy("another change holds this cart or order")
            yield

    @contextmanager
    def hold_if_free(self, key: str) -> Iterator[bool]:
        """Take `key`'s lock only if nobody holds it; yields whether it did."""
        with self._hold(key, 0) as got:
            yield got

    def held(self) -> int:
        """How many keys are locked or awaited right now (for tests and health)."""
        with self._guard:
            return len(self._locks)
