"""Where a short write a person waits on runs (a kiosk cart change): on the event loop, in a
thread when the write slot is busy, and straight to threads for a moment once the slot has been
busy twice in a row."""

from __future__ import annotations

import asyncio
from typing import Any

from edge.platform.loopwrite import LOOP_LOCK_WAIT_S, LoopFirst
from edge.platform.store import WriteBusy


class FakeChange:
    """Records how it was called; refuses (WriteBusy) while `busy` when asked not to wait long."""

    def __init__(self) -> None:
        self.busy = False
        self.calls: list[float | None] = []

    def __call__(self, *args: Any, lock_wait_s: float | None = None) -> str:
        self.calls.append(lock_wait_s)
        if self.busy and lock_wait_s is not None:
            raise WriteBusy("taken")
        return "done"


def test_a_free_slot_runs_on_the_loop_and_a_busy_one_in_a_thread() -> None:
    ran: list[str] = []
    change, where = FakeChange(), LoopFirst(ran.append)
    assert asyncio.run(where.run(change, "s1")) == "done"
    assert change.calls == [LOOP_LOCK_WAIT_S]
    change.busy, change.calls = True, []
    assert asyncio.run(where.run(change, "s1")) == "done"
    assert change.calls == [LOOP_LOCK_WAIT_S, None], "tried on the loop, then waited in a thread"
    assert ran == ["loop", "thread"]


def test_two_timeouts_in_a_row_send_the_next_scans_straight_to_threads() -> None:
    # a back-off long enough that a slow thread-pool hop between the two timeouts cannot outlast it
    change, where = FakeChange(), LoopFirst(backoff_s=60)
    change.busy = True

    async def three() -> None:
        for _ in range(3):
            await where.run(change, "s1")

    asyncio.run(three())
    # 1st and 2nd tried the loop first; the 3rd, within the back-off, went straight to a thread.
    assert change.calls == [LOOP_LOCK_WAIT_S, None, LOOP_LOCK_WAIT_S, None, None]
