"""Server-sent events fed by the bus: one JSON line per frame (json escapes newlines, so hostile
text cannot forge a frame), a heartbeat comment between, the bus handler gone when the client is."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request

from edge.bus import Bus, Event

HEARTBEAT_S = 15.0


def frame(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=True, separators=(',', ':'))}\n\n"


async def bus_frames(
    request: Request,
    bus: Bus,
    kinds: tuple[type[Event], ...],
    pick: Callable[[Any], tuple[str, Any] | None],
    first: Callable[[], list[str]] | None = None,
    heartbeat_s: float = HEARTBEAT_S,
) -> AsyncIterator[str]:
    """`first()` (run in a thread) opens the stream; then `pick(event)` -> (event name, data) or None
    to skip, for every bus event of `kinds`. A slow client loses the oldest frames, never the box."""
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=256)

    def put(ev: Any) -> None:  # on the loop: the bus dispatches there
        picked = pick(ev)
        if picked is None:
            return
        if queue.full():
            queue.get_nowait()
        queue.put_nowait(picked)

    for kind in kinds:
        bus.subscribe(kind, put)
    try:
        yield "retry: 2000\n\n"
        for opening in await asyncio.to_thread(first) if first is not None else []:
            yield opening
        while not await request.is_disconnected():
            try:
                name, data = await asyncio.wait_for(queue.get(), timeout=heartbeat_s)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield frame(name, data)
    finally:
        for kind in kinds:
            bus.unsubscribe(kind, put)
