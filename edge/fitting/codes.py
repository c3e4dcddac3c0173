"""Room codes: the long-lived signed token (edge.platform.codes) in the URL on each room's door.

Rotating the `room_code` key ring and retiring the old keys invalidates every printed code; the
ring is re-read when its file changes, so a rotation by the CLI reaches the running daemon.
"""

from __future__ import annotations

from edge.fitting.settings import RoomSettings
from edge.platform.codes import Codes
from edge.platform.errors import Forbidden
from edge.platform.security import TokenError
from edge.platform.settings import HttpSettings


class RoomCodes:
    """Signs and verifies room tokens for one store."""

    def __init__(self, rooms: list[RoomSettings], store_id: str, http: HttpSettings, codes: Codes) -> None:
        self.rooms = {r.id: r for r in rooms}
        self.store_id = store_id
        self.http = http
        self.codes = codes

    def token(self, room_id: str) -> str:
        if room_id not in self.rooms:
            raise KeyError(room_id)
        return self.codes.room_token(room_id, self.store_id)

    def url(self, room_id: str, base_url: str | None = None) -> str:
        base = (base_url or self.base_url()).rstrip("/")
        return f"{base}/fit/{self.token(room_id)}"

    def base_url(self) -> str:
        http = self.http
        if http.public_url:
            return http.public_url
        host = "127.0.0.1" if http.host in ("0.0.0.0", "::") else http.host
        return f"http://{host}:{http.port}"

    def verify(self, token: str) -> RoomSettings:
        """The room a token opens, or Forbidden with code bad_room_code and the reason in details."""
        try:
            room_id, store_id = self.codes.room_claims(token)
        except TokenError as exc:
            raise Forbidden(
                "this room code is not valid; please scan the code on the fitting-room door",
                code="bad_room_code",
                details={"reason": exc.code},
            ) from None
        room = self.rooms.get(room_id)
        if room is None or store_id != self.store_id:
            raise Forbidden(
                "this room code is not for a room in this store; please scan the code on the door",
                code="bad_room_code",
                details={"reason": "unknown_room"},
            )
        return room

    def rotate(self) -> tuple[str, list[str]]:
        """New active key, old keys retired: every printed code must be reprinted."""
        return self.codes.rotate_rooms()
