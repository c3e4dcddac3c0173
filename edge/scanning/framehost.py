"""Phone frames decoded in a process of its own, so that fifty phones' decoding does not hold
the daemon's interpreter lock.

The daemon is bound by one core of Python (docs/benchmarks-staff-phone.md): every frame's
decoder glue, HTTP, cart writes and payments take turns on one lock. `FrameHost` keeps the
`frames` contract and moves `PhoneFrames` (decoders, GS1 validation, each phone's confirmation
state) into a child process started with `spawn` (never `fork`: the daemon has threads). Each
decode slot is one pipe to one thread of the child, so the slot count bounds both processes.

A child that dies or hangs is replaced; the frame in flight is answered 503 `scanner_busy`
and the page sends the next one (confirmation state starts afresh, a code held in view is
confirmed again within a few frames, and the cart's scan ids keep a resend from adding twice).
The child's scanning counters are copied into the daemon's before each metrics scrape.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from edge.platform.errors import EdgeError, Unavailable
from edge.platform.observability import ComponentHealth
from edge.platform.worker import Detached, Worker
from edge.scanning import framemetrics
from edge.scanning.contract import FrameRead
from edge.scanning.phoneframes import PhoneFrames, busy
from edge.scanning.settings import ScanningSettings

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0  # the child imports OpenCV, zxing-cpp and numpy before it answers
CONTROL_TIMEOUT_S = 5.0


class _Child:
    """One child process and the daemon's ends of its pipes."""

    def __init__(self, settings: ScanningSettings) -> None:
        ctx = mp.get_context("spawn")
        ends = [ctx.Pipe() for _ in range(settings.phone.decode_slots + 1)]
        self.proc = ctx.Process(
            target=serve, args=(settings.model_dump_json(), [c for _, c in ends], os.getpid()),
            name="retail-edge-frames", daemon=True,
        )  # fmt: skip
        self.broken = False
        self.control = ends[0][0]
        self.slots: queue.Queue[Connection] = queue.Queue()
        for parent_end, _ in ends[1:]:
            self.slots.put(parent_end)
        try:
            try:
                self.proc.start()
            finally:
                for _, child_end in ends:
                    child_end.close()  # the child holds its own copies
            if not self.control.poll(START_TIMEOUT_S):
                raise TimeoutError(f"no answer in {START_TIMEOUT_S} s")
            self.control.recv()  # "ready"
        except (OSError, EOFError, TimeoutError) as exc:
            log.error("phone frame decoder process did not start: %s", exc)
            self.close()
            raise busy("the scanner is starting; the next frame will be read") from None

    def close(self) -> None:
        self.broken = True
        if self.proc.pid is not None:  # started
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join(5)
        self.control.close()
        while not self.slots.empty():
            self.slots.get_nowait().close()


class FrameHost:
    """Implements scanning.contract.FrameReader by asking a child process."""

    def __init__(self, settings: ScanningSettings) -> None:
        self.settings = settings
        self.cfg = settings.phone
        self._child: _Child | None = None
        self._lock = threading.Lock()  # starting or replacing the child
        self._control = threading.Lock()  # the control pipe: one question at a time
        self._metrics = framemetrics.Mirror()
        self._starter: Detached[bool] | None = None
        self._stopped = False
        self.replaced = 0  # children that died or hung and were replaced

    def start(self) -> None:
        """Start the child in the background (its imports take about a second of CPU): the daemon
        is ready at once, and a frame that comes before the child waits for it."""
        self._stopped = False
        self._starter = Detached("frames-child-start", self._start, self._not_started)

    def _start(self) -> bool:
        self._live()
        return True

    def _not_started(self, exc: Exception) -> bool:
        log.error("phone frame decoder process did not start (%s); the first phone frame will try again", exc)
        return False

    def stop(self) -> None:
        if self._starter is not None:
            with contextlib.suppress(TimeoutError):
                self._starter.result(START_TIMEOUT_S)
        with self._lock:
            child, self._child, self._stopped = self._child, None, True
        if child is not None:
            child.close()

    def _live(self) -> _Child:
        with self._lock:
            if self._stopped:
                raise busy("the scanner is stopping; the next frame will be read when the box is back")
            if self._child is None or self._child.broken or not self._child.proc.is_alive():
                old = self._child
                if old is not None:
                    self.replaced += 1
                    if not old.broken:  # it died by itself (a hung one was closed by _fail)
                        log.error("phone frame decoder process ended (exit %s); starting another", old.proc.exitcode)
                        old.close()
                self._child = _Child(self.settings)
                self._metrics.reset()  # a new child counts from zero
            return self._child

    def health(self) -> ComponentHealth:
        """For /readyz: degraded when no child is running and none is starting (the last start failed)."""
        child = self._child
        starting = self._starter is not None and not self._starter.done()
        details = {"replaced": self.replaced, "decode_slots": self.cfg.decode_slots}
        if child is not None and not child.broken and child.proc.is_alive():
            return ComponentHealth(reason=f"phone frames decoded in process {child.proc.pid}", details=details)
        if starting or self._stopped:
            return ComponentHealth(reason="the phone frame decoder is starting or stopping", details=details)
        return ComponentHealth(
            status="degraded", reason="no phone frame decoder running; the next phone frame starts one", details=details
        )

    def _fail(self, child: _Child, why: str) -> Unavailable:
        log.error("phone frame decoder process %s; replacing it", why)
        with self._lock:
            child.close()
        return busy("the scanner restarted; the next frame will be read")

    @contextmanager
    def _decode_slot(self) -> Iterator[tuple[_Child, Connection]]:
        child = self._live()
        try:
            conn = child.slots.get(timeout=self.cfg.slot_wait_s)
        except queue.Empty:
            raise busy() from None
        try:
            yield child, conn
        finally:
            if child.broken:
                conn.close()
            else:
                child.slots.put(conn)

    def read_frame(self, stream_id: str, data: bytes, t_ms: float | None, frame_id: str | None) -> FrameRead:
        with self._decode_slot() as (child, conn):
            try:
                conn.send(("read", stream_id, data, t_ms, frame_id))
                if not conn.poll(self.cfg.frame_timeout_s):
                    raise self._fail(child, f"took more than {self.cfg.frame_timeout_s} s over one frame")
                answer = conn.recv()
            except (EOFError, OSError) as exc:
                raise self._fail(child, f"went away ({exc.__class__.__name__})") from None
        if answer[0] == "ok":
            result: FrameRead = answer[1]
            return result
        raise _error(answer)

    def forget(self, stream_id: str) -> None:
        self._ask(("forget", stream_id))

    def sync_metrics(self) -> None:
        samples = self._ask(("metrics",))
        if samples is not None:
            self._metrics.apply(samples)

    def _ask(self, message: tuple[Any, ...]) -> Any:
        """A control question; None when the child is not there (nothing to forget or count)."""
        child = self._child
        if child is None or child.broken:
            return None
        with self._control:
            try:
                child.control.send(message)
                if not child.control.poll(CONTROL_TIMEOUT_S):
                    self._fail(child, "did not answer a control message")
                    return None
                return child.control.recv()[1]
            except (EOFError, OSError):
                return None


def _error(answer: tuple[Any, ...]) -> EdgeError:
    _, cls, message, code, details = answer
    if not (isinstance(cls, type) and issubclass(cls, EdgeError)):
        cls = Unavailable
    error: EdgeError = cls(message, code=code, details=details)
    return error


# --- the child -------------------------------------------------------------------------------
def serve(settings_json: str, conns: list[Connection], parent_pid: int) -> None:
    """The child's main: one thread per decode slot, the control pipe on this one."""
    from edge.scanning.component import PHONE, confirm_rule, role_strategy

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s (frames child): %(message)s")
    settings = ScanningSettings.model_validate_json(settings_json)
    frames = PhoneFrames(settings, role_strategy(settings, PHONE), confirm_rule(settings, PHONE))
    control, slots = conns[0], conns[1:]
    workers = [
        Worker(f"frames-slot-{n}", partial(_serve_slot, frames, conn), restart=False) for n, conn in enumerate(slots)
    ]
    workers.append(Worker("frames-parent-watch", partial(_watch_parent, parent_pid), restart=False))
    for worker in workers:
        worker.start()
    control.send(("ready",))
    while True:
        try:
            message = control.recv()
        except (EOFError, OSError):
            os._exit(0)
        if message[0] == "forget":
            frames.forget(message[1])
            control.send(("ok", True))
        elif message[0] == "metrics":
            control.send(("ok", framemetrics.snapshot()))


def _serve_slot(frames: PhoneFrames, conn: Connection, _: Worker) -> None:
    while True:
        try:
            _, stream_id, data, t_ms, frame_id = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        try:
            answer: tuple[Any, ...] = ("ok", frames.read_frame(stream_id, data, t_ms, frame_id))
        except EdgeError as exc:
            answer = ("err", type(exc), exc.message, exc.code, exc.details)  # a class pickles as its name
        except Exception:
            log.exception("a phone frame failed in the decoder")
            answer = ("err", Unavailable, "the scanner could not read this frame", "scanner_error", {})
        conn.send(answer)


def _watch_parent(parent_pid: int, worker: Worker) -> None:
    """A daemon killed with -9 leaves no one to close the pipes in time: leave with it."""
    while os.getppid() == parent_pid:
        worker.sleep(1.0)
    os._exit(0)
