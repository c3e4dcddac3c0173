"""Who a phone is, told by the box: a signed, HttpOnly cookie the room page sets.

The page used to send an id it made up itself (X-Phone-Id), so anyone who saw the door code
could rotate ids to fill a room's call slots, read every call and note of the visit and cancel
another shopper's call. Now the box issues the phone's id in a cookie bound to the room; a
client without a valid one is known by its address alone. A phone sees and cancels only its own
calls, and calls are limited per phone and per address (docs/fitting.md).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from edge.platform.security import Signer, TokenError

COOKIE = "re_phone"
COOKIE_TTL_S = 12 * 3600


@dataclass(frozen=True)
class Phone:
    """`id` is "ph:<id>" from a valid cookie, else "ip:<address>"; `address` is always the client's."""

    id: str
    address: str


class PhoneSessions:
    def __init__(self, signer: Signer, store_id: str) -> None:
        self.signer = signer
        self.store_id = store_id

    def issue(self, room_id: str) -> str:
        """A new phone id for this room, as the cookie's value."""
        return self.signer.sign({"p": secrets.token_urlsafe(12), "r": room_id, "s": self.store_id}, ttl_s=COOKIE_TTL_S)

    def valid_for(self, cookie: str | None, room_id: str) -> str | None:
        """The phone id in a cookie for this room of this store, or None."""
        if not cookie:
            return None
        try:
            claims = self.signer.verify(cookie)
        except TokenError:
            return None
        if claims.get("r") != room_id or claims.get("s") != self.store_id or not isinstance(claims.get("p"), str):
            return None
        return str(claims["p"])

    def identify(self, cookie: str | None, room_id: str, address: str) -> Phone:
        phone = self.valid_for(cookie, room_id)
        return Phone(f"ph:{phone}" if phone else f"ip:{address}"[:64], address[:64])
