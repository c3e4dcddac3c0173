"""Camera status changes, for the dashboard and /readyz."""

from __future__ import annotations

from dataclasses import dataclass

from edge.bus import Event


@dataclass(frozen=True, kw_only=True)
class CameraStatusEvent(Event):
    camera_id: str
    status: str  # online | stalled | offline
    reason: str = ""
