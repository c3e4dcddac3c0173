"""One way to run background work: a named thread that starts, stops within its budget,
reports its health, and is restarted with paced back-off when its body raises.

Every domain's background loop (camera capture, decoding, the uploader, the relay, the WAL
checkpointer, down-sync, the claim inbox, captures) is a `Worker`, so stopping the daemon has
one shape: `stop()` sets the worker's stop flag, wakes it, and joins it with a deadline.

    def body(w: Worker) -> None:        # loops until w.stopping, then returns
        while not w.stopping:
            do_one_round()
            w.wait(1.0)                 # 1 s, or less when woken (new work) or stopping

    worker = Worker("sync-uploader", body)
    worker.start(); worker.wake(); worker.stop(3.0)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
RESTART_MIN_S = 0.5
RESTART_MAX_S = 30.0


@dataclass(frozen=True)
class WorkerHealth:
    name: str
    alive: bool
    restarts: int
    last_error: str


class Worker:
    """A background thread around `body(worker)`, a loop that returns once `worker.stopping`.

    When the body raises, the exception is logged and counted and the body is called again
    after a back-off that doubles up to RESTART_MAX_S (a crash loop cannot spin the CPU) and
    resets once the body has run for a minute without failing. A body that returns has
    finished: the thread ends."""

    def __init__(
        self,
        name: str,
        body: Callable[[Worker], None],
        *,
        restart: bool = True,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.body = body
        self.restart = restart
        self.on_exit = on_exit
        self.restarts = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- for the owner -------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 3.0) -> bool:
        """Ask the body to stop, wake it, and wait up to timeout_s; True when it has ended."""
        self.signal_stop()
        thread = self._thread
        if thread is None:
            return True
        if thread is not threading.current_thread():
            thread.join(timeout_s)
        ended = not thread.is_alive()
        if ended:
            self._thread = None
        else:
            log.warning("worker %s did not stop within %.1f s", self.name, timeout_s)
        return ended

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the body to end by itself (a one-off job); True when it has."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        return not self.alive

    def signal_stop(self) -> None:
        """Set the stop flag without waiting (to stop many workers in parallel, then join)."""
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Cut the body's current wait short (new work arrived); safe from any thread."""
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def health(self) -> WorkerHealth:
        return WorkerHealth(self.name, self.alive, self.restarts, self.last_error)

    # --- for the body --------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout_s: float | None) -> bool:
        """Sleep until woken (`wake()`, or stopping) or timeout_s; True when woken, False when the
        time ran out. The wake is consumed: `wait(0)` absorbs one that came meanwhile."""
        woken = self._wake.wait(timeout_s)
        self._wake.clear()
        return woken or self._stop.is_set()

    def sleep(self, seconds: float) -> bool:
        """Sleep for seconds even if woken (pacing), unless stopping; True when stopping."""
        return self._stop.wait(seconds)

    # --- the thread ----------------------------------------------------------------------
    def _run(self) -> None:
        backoff = RESTART_MIN_S
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self.body(self)
                except Exception as exc:
                    self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                    log.exception("worker %s failed; restarting in %.1f s", self.name, backoff)
                    if not self.restart or self._stop.wait(backoff):
                        return
                    self.restarts += 1
                    backoff = RESTART_MIN_S if time.monotonic() - started > 60 else min(backoff * 2, RESTART_MAX_S)
                    continue
                return
        finally:
            if self.on_exit is not None:
                try:
                    self.on_exit()
                except Exception:
                    log.exception("worker %s: exit hook failed", self.name)


class Detached(Generic[T]):
    """One call on a daemon thread of its own, for work that may hang (a network request): the
    caller waits for `result()`, and a stuck call never holds up the daemon's exit."""

    def __init__(self, name: str, fn: Callable[[], T], on_error: Callable[[Exception], T]) -> None:
        self._outcome: T | None = None
        self._done = threading.Event()

        def run() -> None:
            try:
                self._outcome = fn()
            except Exception as exc:  # handed to the caller as a value, never lost in a thread
                self._outcome = on_error(exc)
            finally:
                self._done.set()

        threading.Thread(target=run, name=name, daemon=True).start()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout_s: float | None = None) -> T:
        if not self._done.wait(timeout_s):
            raise TimeoutError("the detached call has not finished")
        assert self._outcome is not None
        return self._outcome
