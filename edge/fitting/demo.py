"""Demo fitting-room URLs for the demo banner."""

from __future__ import annotations

from edge.config import Settings


def room_urls(settings: Settings) -> list[str]:
    """The phone-page URL of every configured room (creates the room-code key on first use)."""
    from edge.fitting.codes import RoomCodes
    from edge.platform.security import SecretStore

    codes = RoomCodes(settings, SecretStore(settings.storage.data_dir))
    return [codes.url(room_id) for room_id in codes.rooms]
