"""In-process typed event bus: the one way domains talk to each other.

Handlers run on the asyncio loop. Threads (camera capture, decoders) publish safely: the event
is handed to the loop with call_soon_threadsafe. A failing handler is logged and counted and
never reaches the publisher.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from prometheus_client import Counter

from edge.platform.timeutil import utcnow

log = logging.getLogger(__name__)

BUS_EVENTS = Counter("edge_bus_events_total", "Events published on the in-process bus", ["type"])
BUS_HANDLER_ERRORS = Counter("edge_bus_handler_errors_total", "Bus handlers that raised", ["type"])
BUS_DROPPED = Counter("edge_bus_stream_dropped_total", "Events dropped from a slow stream subscriber")


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every bus event."""

    ts: datetime = field(default_factory=utcnow)


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None] | None]


class Bus:
    """Typed pub/sub. Subscribing to Event receives everything."""

    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler]] = defaultdict(list)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the daemon's loop; before this, publish dispatches inline (tests, CLI)."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def unbind(self) -> None:
        self._loop = None
        self._loop_thread = None

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None] | None]) -> None:
        self._handlers[event_type].append(handler)

    def unsubscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None] | None]) -> None:
        handlers = self._handlers.get(event_type, [])
        if handler in handlers:
            handlers.remove(handler)

    def publish(self, event: Event) -> None:
        """Safe from any thread; never raises because of a handler."""
        BUS_EVENTS.labels(type(event).__name__).inc()
        loop = self._loop
        if loop is None or loop.is_closed() or threading.get_ident() == self._loop_thread:
            self._dispatch(event)
        else:
            try:
                loop.call_soon_threadsafe(self._dispatch, event)
            except RuntimeError:  # loop closed while shutting down
                log.debug("bus: loop closed, dropped %s", type(event).__name__)

    def _dispatch(self, event: Event) -> None:
        for etype in type(event).__mro__:
            for handler in list(self._handlers.get(etype, ())):  # type: ignore[call-overload]
                try:
                    result = handler(event)
                    if inspect.isawaitable(result):
                        self._spawn(result, type(event).__name__)
                except Exception:
                    BUS_HANDLER_ERRORS.labels(type(event).__name__).inc()
                    log.exception("bus handler %r failed on %s", handler, type(event).__name__)

    def _spawn(self, awaitable: Awaitable[None], name: str) -> None:
        async def runner() -> None:
            try:
                await awaitable
            except Exception:
                BUS_HANDLER_ERRORS.labels(name).inc()
                log.exception("async bus handler failed on %s", name)

        if self._loop is None:
            asyncio.run(runner())
            return
        task = self._loop.create_task(runner())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stream(self, *types: type[Event], maxsize: int = 256) -> AsyncIterator[Event]:
        """Async iterator over events (for SSE). A slow reader loses the oldest, never blocks the bus."""
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)

        def put(event: Event) -> None:
            if queue.full():
                queue.get_nowait()
                BUS_DROPPED.inc()
            queue.put_nowait(event)

        wanted = types or (Event,)
        for t in wanted:
            self.subscribe(t, put)
        try:
            while True:
                yield await queue.get()
        finally:
            for t in wanted:
                self.unsubscribe(t, put)
