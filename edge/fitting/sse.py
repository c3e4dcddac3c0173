"""Server-sent events of call changes, for the phone page (one room), guides and the dashboard.

Each frame's data is one JSON line (json escapes newlines, so a hostile note cannot forge a
frame). A new stream first replays the current calls; clients keep the highest `version` per id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from edge.bus import Bus
from edge.fitting.events import CallChanged

HEARTBEAT_S = 15.0


def frame(event: str, data: dict[str, Any]) -> str:
    ident = f"{data.get('id', '')}:{data.get('version', '')}"
    return f"event: {event}\nid: {ident}\ndata: {json.dumps(data, ensure_ascii=True, separators=(',', ':'))}\n\n"


async def call_stream(
    bus: Bus,
    snapshot: Callable[[], list[dict[str, Any]]],
    room_id: str | None = None,
    heartbeat_s: float = HEARTBEAT_S,
    phone_id: str | None = None,
) -> AsyncIterator[str]:
    q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=512)

    def put(ev: CallChanged) -> None:  # runs on the loop (the bus dispatches there)
        if (room_id is not None and ev.room_id != room_id) or (phone_id is not None and ev.phone_id != phone_id):
            return
        if q.full():
            q.get_nowait()
        q.put_nowait(ev.call)

    bus.subscribe(CallChanged, put)
    try:
        yield "retry: 2000\n\n"
        for call in await asyncio.to_thread(snapshot):
            yield frame("call", call)
        while True:
            try:
                data = await asyncio.wait_for(q.get(), heartbeat_s)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            yield frame("call", data)
    finally:
        bus.unsubscribe(CallChanged, put)
