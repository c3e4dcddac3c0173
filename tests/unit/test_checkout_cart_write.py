"""Where a kiosk cart change runs: on the event loop, in a thread when the write slot is busy,
and straight to threads for a moment once the slot has been busy twice in a row."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edge.checkout import router
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


@pytest.fixture(autouse=True)
def fresh_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(router, "_loop_backoff", {"until": 0.0, "last_busy": -1.0})


def test_a_free_slot_runs_on_the_loop_and_a_busy_one_in_a_thread() -> None:
    change = FakeChange()
    assert asyncio.run(router._cart_write(change, "s1")) == "done"
    assert change.calls == [router.CART_LOOP_LOCK_WAIT_S]
    change.busy, change.calls = True, []
    assert asyncio.run(router._cart_write(change, "s1")) == "done"
    assert change.calls == [router.CART_LOOP_LOCK_WAIT_S, None], "tried on the loop, then waited in a thread"


def test_two_timeouts_in_a_row_send_the_next_scans_straight_to_threads() -> None:
    change = FakeChange()
    change.busy = True

    async def three() -> None:
        for _ in range(3):
            await router._cart_write(change, "s1")

    asyncio.run(three())
    # 1st and 2nd tried the loop first; the 3rd, within the back-off, went straight to a thread.
    assert change.calls == [router.CART_LOOP_LOCK_WAIT_S, None, router.CART_LOOP_LOCK_WAIT_S, None, None]
