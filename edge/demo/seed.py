"""Demo store seed data: the demo catalog, the fitting rooms' phone-page URLs, today's entry code."""

from __future__ import annotations

from typing import Any

from edge.config import Settings
from edge.demo.catalog import seed_catalog
from edge.fitting.codes import RoomCodes
from edge.phone.codes import EntryCodes
from edge.platform.codes import Codes
from edge.platform.security import SecretStore, Signer


def room_urls(settings: Settings) -> list[str]:
    """The phone-page URL of every configured room (creates the room-code key on first use)."""
    codes = Codes(SecretStore(settings.storage.data_dir))
    rooms = RoomCodes(settings.fitting.rooms, settings.store.id, settings.http, codes)
    return [rooms.url(room_id) for room_id in rooms.rooms]


def entry_url(settings: Settings) -> str:
    """Today's scan-and-go entry URL (what the QR code at the entrance opens on a phone)."""
    ring = SecretStore(settings.storage.data_dir).keyring("entry_code")
    s = settings
    codes = EntryCodes(Signer("entry_code", ring), s.store.id, s.store.timezone, s.phone.entry_grace_h)
    base = s.http.public_url or f"http://127.0.0.1:{s.http.port}"
    return f"{base.rstrip('/')}/go/{codes.code()}"


def seed_demo_store(settings: Settings) -> dict[str, Any]:
    """Seeds the catalog, members, coupons and faces; returns the URLs and codes for the banner."""
    from edge.app import prepare_storage
    from edge.demo.people import seed_people

    seed_catalog(settings)
    store = prepare_storage(settings)
    try:
        people = seed_people(settings, store)
    finally:
        store.dispose()
    return {"room_urls": room_urls(settings), "entry_url": entry_url(settings), "people": people}
