"""Where a short write a person waits on runs: on the event loop when the write slot is free at
once, else in a worker thread.

A cart change is a ~1 ms write that is not fsynced. In a worker thread it paid two hops (the
call and the response check), each queueing for the interpreter lock on a busy box, and then
queued for the write slot behind payment threads. On the loop it runs at once; if the write
slot or its cart is taken, it waits for it at most LOOP_LOCK_WAIT_S (a write holds the slot for
a millisecond or two, and a loop blocked on a lock leaves the interpreter to the holder). Past
that it has done nothing (WriteBusy) and runs again in a worker thread, where waiting is fine.

Two such timeouts within BACKOFF_S mean something holds the slot for long (a catalog import, a
slow disk): the next writes go straight to threads for a while rather than each stalling the
loop. One timeout alone (about 1 write in 300 at a busy hour) does not: backing off on it cost
2-3 ms of add-item p99. Durable writes stay in threads: the loop never waits for an fsync.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from edge.platform.store import WriteBusy

T = TypeVar("T")
LOOP_LOCK_WAIT_S = 0.005
BACKOFF_S = 0.05


class LoopFirst:
    """Runs `change(*args, lock_wait_s=...)` on the loop, or in a thread when the slot is busy.

    One instance per kind of write, owned by the domain that makes it (state lives here, not in
    a module global). Only ever used from the event loop: no lock needed for its state."""

    def __init__(
        self,
        ran: Callable[[str], None] = lambda _where: None,
        lock_wait_s: float = LOOP_LOCK_WAIT_S,
        backoff_s: float = BACKOFF_S,
    ) -> None:
        self.ran = ran  # told "loop" or "thread" after each write (the owner's metric)
        self.lock_wait_s = lock_wait_s
        self.backoff_s = backoff_s
        self._until = 0.0
        self._last_busy = -1.0

    async def run(self, change: Callable[..., T], *args: Any) -> T:
        now = time.monotonic()
        if now >= self._until:
            try:
                result = change(*args, lock_wait_s=self.lock_wait_s)
            except WriteBusy:
                if now - self._last_busy < self.backoff_s:
                    self._until = now + self.backoff_s
                self._last_busy = now
            else:
                self.ran("loop")
                return result
        self.ran("thread")
        return await run_in_threadpool(change, *args)
