"""The store's write slot: one writer at a time, handed out by urgency, then by arrival.

SQLite has one writer, and under load the slot is a queue. With a plain lock, a shopper's scan
(a 5 ms write that a beep waits on) queued behind every payment, gate check, card capture and
housekeeping sweep that arrived first, and on a busy 2-core box the scan's answer followed the
length of that queue (hundreds of ms). So a writer says how urgent it is:

- `INTERACTIVE`: a person is waiting on this write within a fraction of a second (a cart line,
  a gate opening);
- `NORMAL`: the default (payments, calls, staff actions: a person waits about a second);
- `BACKGROUND`: nobody is waiting (captures, sweeps, sync bookkeeping).

The slot goes to the most urgent waiter, first come first served within a level. A release hands
the slot straight to the next waiter (no barging), and the slot is re-entrant for its holder.
Nothing starves: a waiter queued longer than `MAX_WAIT_S` goes before any more urgent one that
came after it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass, field

INTERACTIVE, NORMAL, BACKGROUND = 0, 1, 2
MAX_WAIT_S = 1.0  # past this, a waiter is served in arrival order whatever its urgency


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    thread: int = field(compare=False)
    granted: threading.Event = field(compare=False, default_factory=threading.Event)
    gave_up: bool = field(compare=False, default=False)
    since: float = field(compare=False, default_factory=time.monotonic)


class WriteSlot:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._queue: list[_Waiter] = []
        self._seq = itertools.count()

    def acquire(self, priority: int = NORMAL, timeout: float | None = None) -> bool:
        """Take the slot; False when `timeout` (seconds) passed first (nothing is held then)."""
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None:
                self._owner, self._depth = me, 1
                return True
            waiter = _Waiter(priority, next(self._seq), me)
            heapq.heappush(self._queue, waiter)
        try:
            if waiter.granted.wait(timeout):
                return True
        except BaseException:  # interrupted while waiting: never leave a slot handed to nobody
            with self._mutex:
                waiter.gave_up = True
                granted = waiter.granted.is_set()
            if granted:
                self.release()
            raise
        with self._mutex:
            if waiter.granted.is_set():  # handed over just as the wait ended
                return True
            waiter.gave_up = True  # skipped by release
            return False

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("the write slot is released by a thread that does not hold it")
            self._depth -= 1
            if self._depth:
                return
            while self._queue:
                waiter = self._next()
                if not waiter.gave_up:
                    self._owner, self._depth = waiter.thread, 1
                    waiter.granted.set()
                    return
            self._owner = None

    def _next(self) -> _Waiter:
        """The most urgent waiter, unless one has waited past MAX_WAIT_S: then the oldest of those."""
        now = time.monotonic()
        overdue = [w for w in self._queue if not w.gave_up and now - w.since > MAX_WAIT_S]
        if not overdue:
            return heapq.heappop(self._queue)
        oldest = min(overdue, key=lambda w: w.seq)
        self._queue.remove(oldest)
        heapq.heapify(self._queue)
        return oldest

    def __enter__(self) -> WriteSlot:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def waiting(self) -> int:
        """Writers queued for the slot now (for metrics)."""
        with self._mutex:
            return sum(1 for w in self._queue if not w.gave_up)
