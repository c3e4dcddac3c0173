"""Room codes: long-lived HMAC tokens (with key id) in the URL printed on each room's door.

Rotating the `room_code` key ring and retiring the old keys invalidates every printed code.
The CLI rotates in another process, so the verifier reloads the ring when its file changes.
"""

from __future__ import annotations

import threading
from pathlib import Path

from edge.config import Settings
from edge.fitting.settings import RoomSettings
from edge.platform.errors import Forbidden
from edge.platform.security import KeyRing, SecretStore, Signer, TokenError

PURPOSE = "room_code"


class RoomCodes:
    """Signs and verifies room tokens for one store."""

    def __init__(self, settings: Settings, secrets: SecretStore) -> None:
        self.settings = settings
        self.secrets = secrets
        self.rooms = {r.id: r for r in settings.fitting.rooms}
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._signer = self._load()

    def _ring_path(self) -> Path:
        return self.secrets.keyring(PURPOSE).path

    def _load(self) -> Signer:
        ring: KeyRing = self.secrets.keyring(PURPOSE)
        ring.active()  # creates the ring on first use
        self._stamp = ring.path.stat().st_mtime_ns if ring.path.exists() else None
        return Signer(PURPOSE, ring)

    def _current(self) -> Signer:
        path = self._ring_path()
        stamp = path.stat().st_mtime_ns if path.exists() else None
        with self._lock:
            if stamp != self._stamp:
                self._signer = self._load()
            return self._signer

    def token(self, room_id: str) -> str:
        if room_id not in self.rooms:
            raise KeyError(room_id)
        return self._current().sign({"r": room_id, "s": self.settings.store.id})

    def url(self, room_id: str, base_url: str | None = None) -> str:
        base = (base_url or self.base_url()).rstrip("/")
        return f"{base}/fit/{self.token(room_id)}"

    def base_url(self) -> str:
        http = self.settings.http
        if http.public_url:
            return http.public_url
        host = "127.0.0.1" if http.host in ("0.0.0.0", "::") else http.host
        return f"http://{host}:{http.port}"

    def verify(self, token: str) -> RoomSettings:
        """The room a token opens, or Forbidden with code bad_room_code and the reason in details."""
        try:
            claims = self._current().verify(token)
        except TokenError as exc:
            raise Forbidden(
                "this room code is not valid; please scan the code on the fitting-room door",
                code="bad_room_code",
                details={"reason": exc.code},
            ) from None
        room = self.rooms.get(str(claims.get("r", "")))
        if room is None or claims.get("s") != self.settings.store.id:
            raise Forbidden(
                "this room code is not for a room in this store; please scan the code on the door",
                code="bad_room_code",
                details={"reason": "unknown_room"},
            )
        return room

    def rotate(self) -> tuple[str, list[str]]:
        """New active key, old keys retired: every printed code must be reprinted."""
        ring = self.secrets.keyring(PURPOSE)
        kid = ring.rotate()
        gone = ring.retire_all_but_active()
        with self._lock:
            self._stamp = None
        return kid, gone
