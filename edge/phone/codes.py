"""The store's entry code (the QR at the entrance and on the trolleys) and the phone's cookie.

The entry code is signed (its own key ring, `entry_code`) and names the store and the day, so
the code printed today stops opening carts tomorrow (after `entry_grace_h`, for shoppers already
inside at midnight): a photo of it shared online is worth one day. It is deterministic, so the
screen at the entrance, the CLI and the trolley labels of one day all show the same code.

The cookie is the phone's shopping identity: a random id the box issues, signed (ring
`go_session`), HttpOnly, bound to this store. Its owner id (`phone-<id>`) is what a cart
answers to; another phone holding the cart id gets 403.
"""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from edge.checkout.contract import PHONE_PREFIX
from edge.platform.errors import Forbidden
from edge.platform.security import Signer, TokenError

COOKIE = "re_go"
ENTRY_PREFIX = "RG1:"
_PHONE_ID = re.compile(r"^[A-Za-z0-9_-]{16,32}$")


class EntryCodes:
    def __init__(self, signer: Signer, store_id: str, timezone: str, grace_h: int) -> None:
        self.signer = signer
        self.store_id = store_id
        self.zone = ZoneInfo(timezone)
        self.grace = timedelta(hours=grace_h)

    def today(self, now: datetime | None = None) -> date:
        return (now or datetime.now(self.zone)).astimezone(self.zone).date()

    def code(self, day: date | None = None) -> str:
        """The entry code of one day (today by default) as it goes in the URL."""
        return self.signer.sign({"s": self.store_id, "d": (day or self.today()).isoformat()})

    def verify(self, code: str, now: datetime | None = None) -> None:
        """Forbidden `bad_entry_code` (forged, another store's) or `stale_entry_code` (another day)."""
        try:
            claims = self.signer.verify(code)
        except TokenError as exc:
            raise Forbidden(
                "this code does not open a cart here; scan the QR code at the store entrance",
                code="bad_entry_code",
                details={"reason": exc.code},
            ) from None
        if claims.get("s") != self.store_id or not isinstance(claims.get("d"), str):
            raise Forbidden(
                "this code belongs to another store; scan the QR code at this store's entrance",
                code="bad_entry_code",
                details={"reason": "other_store"},
            )
        local = (now or datetime.now(self.zone)).astimezone(self.zone)
        valid = {local.date().isoformat(), (local - self.grace).date().isoformat()}
        if claims["d"] not in valid:
            raise Forbidden(
                "this code is from another day; scan today's QR code at the store entrance",
                code="stale_entry_code",
                details={"reason": "stale", "day": claims["d"]},
            )


class PhoneCookies:
    def __init__(self, signer: Signer, store_id: str, ttl_s: int) -> None:
        self.signer = signer
        self.store_id = store_id
        self.ttl_s = ttl_s

    def issue(self) -> tuple[str, str]:
        """(owner id, cookie value) for a new phone."""
        phone = secrets.token_urlsafe(16)
        return PHONE_PREFIX + phone, self.signer.sign({"p": phone, "s": self.store_id}, ttl_s=self.ttl_s)

    def owner(self, cookie: str | None) -> str | None:
        """The owner id in a valid cookie of this store, else None."""
        if not cookie:
            return None
        try:
            claims = self.signer.verify(cookie)
        except TokenError:
            return None
        phone = claims.get("p")
        if claims.get("s") != self.store_id or not isinstance(phone, str) or not _PHONE_ID.match(phone):
            return None
        return PHONE_PREFIX + phone
