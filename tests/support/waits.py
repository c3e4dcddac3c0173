"""Waiting for an event with a deadline, the one way tests wait.

A test never sleeps and hopes that something has happened by then: it names what it waits for
and polls it until it is there. The deadline is generous because it costs nothing when things
work (the wait ends as soon as the event occurs); it only bounds how long a broken run hangs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T],
    timeout: float = 10.0,
    what: str = "the condition",
    *,
    until: Callable[[T], Any] = bool,
    interval: float = 0.01,
    max_interval: float = 0.2,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `probe` until `until(value)` holds (by default: until the value is truthy) and return
    that value. After `timeout` seconds, raise an AssertionError that says `what` was awaited and
    the last value seen.

    The pause between probes starts at `interval` and grows by half each time up to
    `max_interval`: a quick event is seen at once, and a slow one is not polled so often that
    the probes (HTTP requests, database connections) load the box the test runs on.

    Exceptions from `probe` propagate at once (a child process that died fails the wait), except
    those listed in `ignore`, which count as "not yet" (a port that refuses, a locked database).
    """
    deadline = time.monotonic() + timeout
    last: Any = "<not probed>"
    while True:
        try:
            value = probe()
        except ignore as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if until(value):
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last value seen: {last!r}")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))  # the only sleep that waits
        interval = min(interval * 1.5, max_interval)
