"""Events checkout publishes on the bus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge.bus import Event


@dataclass(frozen=True, kw_only=True)
class CartChanged(Event):
    """A kiosk session changed (line added, member attached, paid, expired...); SSE pushes the cart."""

    session_id: str
    kiosk_id: str
    version: int
    reason: str
    alert: dict[str, str] | None = None  # a typed problem to show on the kiosk (unknown item, age check...)


@dataclass(frozen=True, kw_only=True)
class OrderPaid(Event):
    order_id: str
    session_id: str
    kiosk_id: str
    total_minor: int
    currency: str


@dataclass(frozen=True, kw_only=True)
class GateOpenEvent(Event):
    """An exit pass was accepted: the gate opens (also queued as an MQTT command)."""

    store_id: str
    gate_id: str
    order_id: str
    pass_id: str
    audit: bool  # flagged for a random staff check


@dataclass(frozen=True, kw_only=True)
class PassRefused(Event):
    gate_id: str
    reason: str  # malformed | forged | expired | used | revoked | unknown


@dataclass(frozen=True, kw_only=True)
class TaskChanged(Event):
    """A staff task was raised, claimed, answered or escalated (checkout.tasks); `task` is its public view."""

    task: dict[str, Any]
