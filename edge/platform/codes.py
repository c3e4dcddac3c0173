"""Signed codes a camera or a phone shows: member cards, coupons, exit passes, room doors, guides.

A short text prefix says what a scanned QR is before any signature work; the HMAC (with a key
id, one key ring per kind) is what makes it trustworthy. Rotating one ring never invalidates
another kind, and a code of one kind is never accepted as another. Key rings are re-read when
their file changes, so `retail-edge keys rotate` reaches a running daemon.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from edge.platform.errors import EdgeError, Gone, InvalidInput, Unprocessable
from edge.platform.security import SecretStore, Signer, TokenError
from edge.platform.timeutil import as_utc

MEMBER_PREFIX = "RM1:"
COUPON_PREFIX = "RC1:"
PASS_PREFIX = "RX1:"  # noqa: S105 (a QR kind marker, not a secret)
GUIDE_PREFIX = "RG1:"  # a guide's personal code (the chain's `guide` ring: it verifies in every store)
ROOM_PURPOSE = "room_code"


class PassRefusal(Exception):
    """Why a pass is refused: malformed | forged | expired | used | revoked | unknown."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Codes:
    """Signs and verifies every kind of code this store hands out."""

    def __init__(self, secrets: SecretStore, box: str = "") -> None:
        self.secrets = secrets
        self.box = box  # written into the passes this box issues: the gate box knows whose order it is
        self.member = Signer("member", secrets.keyring("member"))
        self.coupon = Signer("coupon", secrets.keyring("coupon"))
        self.exit_pass = Signer("exit_pass", secrets.keyring("exit_pass"))
        self.room = Signer(ROOM_PURPOSE, secrets.keyring(ROOM_PURPOSE))
        self.guide = Signer("guide", secrets.keyring("guide"))

    # --- members ----------------------------------------------------------------------
    def member_code(self, member_id: str) -> str:
        return MEMBER_PREFIX + self.member.sign({"m": member_id})

    def member_id(self, text: str) -> str:
        """The member in a signed member QR; member_code_invalid (400) / member_expired (410)."""
        claims = _verify(self.member, text, MEMBER_PREFIX, "member")
        mid = claims.get("m")
        if not isinstance(mid, str):
            raise InvalidInput("this member code is not valid", code="member_code_invalid")
        return mid

    # --- coupons ----------------------------------------------------------------------
    def coupon_code(self, claims: dict[str, Any]) -> str:
        return COUPON_PREFIX + self.coupon.sign(claims)

    def coupon_claims(self, text: str, now: float | None = None) -> dict[str, Any]:
        claims = _verify(self.coupon, text, COUPON_PREFIX, "coupon", now)
        nbf = claims.get("nbf")
        if nbf is not None and (now or time.time()) < float(nbf):
            raise Unprocessable("this coupon is not valid yet", code="coupon_not_yet_valid")
        return claims

    # --- exit passes ------------------------------------------------------------------
    def pass_code(self, order_id: str, pass_id: str, expires_at: datetime, audit: str = "") -> str:
        """`audit`: why the order's basket is rescanned at the gate ("" for none), signed into the
        pass so that a gate box that did not issue it knows too. The expiry is the pass row's own,
        so a pass shown again (a reload, a replayed checkout) is the same code, not a new one."""
        exp = int(as_utc(expires_at).timestamp())
        claims: dict[str, Any] = {"o": order_id, "p": pass_id, "exp": exp}
        if self.box:
            claims["b"] = self.box
        if audit:
            claims["a"] = audit
        return PASS_PREFIX + self.exit_pass.sign(claims)

    def pass_claims(self, text: str, now: float | None = None) -> dict[str, Any]:
        """Signature and expiry of an exit pass; raises PassRefusal with a reason."""
        if not isinstance(text, str) or not text.startswith(PASS_PREFIX):
            raise PassRefusal("malformed", "this is not an exit pass")
        try:
            claims = self.exit_pass.verify(text[len(PASS_PREFIX) :], now=now)
        except TokenError as exc:
            reason = {"expired": "expired", "malformed": "malformed"}.get(exc.code, "forged")
            raise PassRefusal(reason, str(exc)) from None
        if not isinstance(claims.get("o"), str) or not isinstance(claims.get("p"), str):
            raise PassRefusal("malformed", "exit pass is missing its order")
        if not isinstance(claims.get("b", ""), str) or not isinstance(claims.get("a", ""), str):
            raise PassRefusal("malformed", "exit pass has a malformed box or audit")
        return claims

    # --- fitting-room doors -----------------------------------------------------------
    def room_token(self, room_id: str, store_id: str) -> str:
        """Long-lived: printed on the door. Rotating the ring and retiring old keys voids them all."""
        return self.room.sign({"r": room_id, "s": store_id})

    def room_claims(self, token: str) -> tuple[str, str]:
        """(room id, store id) of a door token; raises TokenError with a reason code."""
        claims = self.room.verify(token)
        return str(claims.get("r", "")), str(claims.get("s", ""))

    def rotate_rooms(self) -> tuple[str, list[str]]:
        """New active room key, old ones retired: every printed door code must be reprinted."""
        kid = self.room.ring.rotate()
        return kid, self.room.ring.retire_all_but_active()


def guide_code(codes: Codes, guide_id: str, store_id: str, ttl_s: int) -> str:
    """The code a guide shows a shopper on the handheld: who they are and in which store."""
    return GUIDE_PREFIX + codes.guide.sign({"g": guide_id, "st": store_id}, ttl_s=ttl_s)


def guide_claims(codes: Codes, text: str) -> tuple[str, str]:
    """(guide id, their store) of a guide code; guide_code_invalid (400) / guide_expired (410)."""
    claims = _verify(codes.guide, text, GUIDE_PREFIX, "guide")
    guide, store = claims.get("g"), claims.get("st")
    if not isinstance(guide, str) or not guide or not isinstance(store, str) or not store:
        raise InvalidInput("this guide code is not valid", code="guide_code_invalid")
    return guide, store


def _verify(signer: Signer, text: str, prefix: str, what: str, now: float | None = None) -> dict[str, Any]:
    if not isinstance(text, str) or not text.startswith(prefix):
        raise InvalidInput(f"this is not a {what} code", code=f"{what}_code_invalid")
    try:
        return signer.verify(text[len(prefix) :], now=now)
    except TokenError as exc:
        if exc.code == "expired":
            raise Gone(f"this {what} code has expired", code=f"{what}_expired") from None
        err: EdgeError = InvalidInput(f"this {what} code is not valid ({exc.code})", code=f"{what}_code_invalid")
        raise err from None
