"""Signed QR payloads: member cards, coupons and exit passes, each with its own key ring.

A short text prefix says what a scanned QR is before any signature work; the HMAC (with a key
id) is what makes it trustworthy. Rotating one ring never invalidates another kind of code.
"""

from __future__ import annotations

import time
from typing import Any

from edge.platform.errors import EdgeError, Gone, InvalidInput, Unprocessable
from edge.platform.security import SecretStore, Signer, TokenError

MEMBER_PREFIX = "RM1:"
COUPON_PREFIX = "RC1:"
PASS_PREFIX = "RX1:"  # noqa: S105 (a QR kind marker, not a secret)


class Tokens:
    def __init__(self, secrets: SecretStore) -> None:
        self.member = Signer("member", secrets.keyring("member"))
        self.coupon = Signer("coupon", secrets.keyring("coupon"))
        self.exit_pass = Signer("exit_pass", secrets.keyring("exit_pass"))

    # --- members ------------------------------------------------------------------
    def member_code(self, member_id: str) -> str:
        return MEMBER_PREFIX + self.member.sign({"m": member_id})

    def member_id(self, text: str) -> str:
        claims = _verify(self.member, text, MEMBER_PREFIX, "member")
        mid = claims.get("m")
        if not isinstance(mid, str):
            raise InvalidInput("this member code is not valid", code="member_code_invalid")
        return mid

    # --- coupons ------------------------------------------------------------------
    def coupon_code(self, claims: dict[str, Any]) -> str:
        return COUPON_PREFIX + self.coupon.sign(claims)

    def coupon_claims(self, text: str, now: float | None = None) -> dict[str, Any]:
        claims = _verify(self.coupon, text, COUPON_PREFIX, "coupon", now)
        nbf = claims.get("nbf")
        if nbf is not None and (now or time.time()) < float(nbf):
            raise Unprocessable("this coupon is not valid yet", code="coupon_not_yet_valid")
        return claims

    # --- exit passes ----------------------------------------------------------------
    def pass_code(self, order_id: str, pass_id: str, ttl_s: int) -> str:
        return PASS_PREFIX + self.exit_pass.sign({"o": order_id, "p": pass_id}, ttl_s=ttl_s)


class PassRefusal(Exception):
    """Why a pass is refused: malformed | forged | expired | used | revoked | unknown."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def verify_pass(signer: Signer, text: str, now: float | None = None) -> dict[str, Any]:
    """Signature and expiry of an exit pass; raises PassRefusal with a reason."""
    if not isinstance(text, str) or not text.startswith(PASS_PREFIX):
        raise PassRefusal("malformed", "this is not an exit pass")
    try:
        claims = signer.verify(text[len(PASS_PREFIX) :], now=now)
    except TokenError as exc:
        reason = {"expired": "expired", "malformed": "malformed"}.get(exc.code, "forged")
        raise PassRefusal(reason, str(exc)) from None
    if not isinstance(claims.get("o"), str) or not isinstance(claims.get("p"), str):
        raise PassRefusal("malformed", "exit pass is missing its order")
    return claims


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
