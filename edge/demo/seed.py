"""Demo store seed data: the demo catalog and the fitting rooms' phone-page URLs."""

from __future__ import annotations

from typing import Any

from edge.config import Settings
from edge.demo.catalog import seed_catalog
from edge.fitting.codes import RoomCodes
from edge.platform.codes import Codes
from edge.platform.security import SecretStore


def room_urls(settings: Settings) -> list[str]:
    """The phone-page URL of every configured room (creates the room-code key on first use)."""
    codes = Codes(SecretStore(settings.storage.data_dir))
    rooms = RoomCodes(settings.fitting.rooms, settings.store.id, settings.http, codes)
    return [rooms.url(room_id) for room_id in rooms.rooms]


def seed_demo_store(settings: Settings) -> dict[str, Any]:
    """Seeds catalog and rooms; returns {"room_urls": [...]} for the banner."""
    seed_catalog(settings)
    return {"room_urls": room_urls(settings)}
