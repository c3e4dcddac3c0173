"""Events the fitting domain publishes on the bus (SSE streams and the dashboard listen)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.bus import Event


@dataclass(frozen=True, kw_only=True)
class CallChanged(Event):
    """A call was opened or changed state; `call` is the public JSON shape (CallPublic)."""

    call_id: str
    room_id: str
    zone: str
    phone_id: str = ""  # whose call (the room page shows a phone its own calls only); not in `call`
    state: str
    version: int
    call: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ItemAdded(Event):
    """A garment joined a room's visit (by the room camera or typed on the phone)."""

    room_id: str
    visit_id: str
    gtin: str
    source: str


@dataclass(frozen=True, kw_only=True)
class VisitEnded(Event):
    room_id: str
    visit_id: str
    reason: str  # released | idle
