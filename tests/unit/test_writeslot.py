"""The store's write slot: the most urgent waiter first, then first come; re-entrant; timeouts leave nothing held."""

from __future__ import annotations

import threading
import time

import pytest

from edge.platform import writeslot
from edge.platform.writeslot import BACKGROUND, INTERACTIVE, NORMAL, WriteSlot


def _until(check, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.001)


def _served_order(waiters: tuple[tuple[str, int], ...]) -> list[str]:
    """Queue `waiters` (name, urgency) in this order behind a held slot, release it: who got it when."""
    slot = WriteSlot()
    order: list[str] = []
    assert slot.acquire()
    threads = []
    for name, prio in waiters:

        def run(name: str = name, prio: int = prio) -> None:
            assert slot.acquire(prio)
            order.append(name)
            slot.release()

        t = threading.Thread(target=run)
        t.start()
        threads.append(t)
        _until(lambda n=len(threads): slot.waiting() == n)  # queued in this order
    slot.release()
    for t in threads:
        t.join(5)
    assert slot.acquire(timeout=0), "free again once everyone is done"
    slot.release()
    return order


def test_waiters_get_the_slot_by_urgency_then_arrival(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writeslot, "MAX_WAIT_S", 60.0)  # none is overdue however slow this box is
    waiters = (("bg", BACKGROUND), ("n1", NORMAL), ("i1", INTERACTIVE), ("n2", NORMAL), ("i2", INTERACTIVE))
    assert _served_order(waiters) == ["i1", "i2", "n1", "n2", "bg"]


def test_reentrant_for_its_holder_and_released_by_the_holder_only() -> None:
    slot = WriteSlot()
    assert slot.acquire() and slot.acquire(INTERACTIVE)
    slot.release()
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(slot.acquire(timeout=0)))
    t.start()
    t.join(5)
    assert got == [False], "still held once: the outer write has not ended"
    errors: list[Exception] = []

    def wrong_release() -> None:
        try:
            slot.release()
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=wrong_release)
    t.start()
    t.join(5)
    assert errors, "another thread cannot release it"
    slot.release()
    assert slot.acquire(timeout=0)
    slot.release()


@pytest.mark.parametrize("prio", [INTERACTIVE, BACKGROUND])
def test_a_waiter_that_gives_up_is_skipped(prio: int) -> None:
    slot = WriteSlot()
    assert slot.acquire()
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(slot.acquire(prio, timeout=0.05)))
    t.start()
    t.join(5)
    assert result == [False]
    got = threading.Event()

    def later() -> None:
        assert slot.acquire(NORMAL)
        got.set()
        slot.release()

    t2 = threading.Thread(target=later)
    t2.start()
    _until(lambda: slot.waiting() == 1)
    slot.release()  # passes over the waiter that gave up
    assert got.wait(5)
    t2.join(5)
    assert slot.waiting() == 0 and slot.acquire(timeout=0)
    slot.release()


def test_a_waiter_queued_too_long_goes_first_whatever_its_urgency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writeslot, "MAX_WAIT_S", 0.0)  # every waiter is overdue at once: arrival order
    order = _served_order((("bg", BACKGROUND), ("i1", INTERACTIVE)))
    assert order == ["bg", "i1"], "the background write that waited longest is not starved"
