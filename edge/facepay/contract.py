"""What other domains may ask of face-pay: paying (the registry's `facepay` slot) and the back
office's erasures and model status (`faces`).

A verification for a checkout yields a single-use authorisation bound to the order reference
(the kiosk session id), the amount and the member. Checkout's `face` payment provider consumes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class FaceAuthorization:
    auth_id: str
    member_id: str
    order_ref: str
    amount_minor: int
    currency: str
    expires_at: datetime


class FacePayer(Protocol):
    def verify_for_payment(
        self,
        *,
        kiosk_id: str,
        order_ref: str,
        amount_minor: int,
        currency: str,
        member_hint: str | None = None,
        frames: list[Any] | None = None,
    ) -> dict[str, Any]:
        """Verify the shopper at this kiosk (frames from its face camera when not given).

        Returns the verification result as a dict (decision, similarity, margin, liveness,
        detection confidence, model versions, timings) with "authorization": FaceAuthorization | None.
        Raises an EdgeError subclass for refusals (rate limit, lockout, models down).
        """

    def authorized_member(self, auth_id: str) -> str | None:
        """The member an unused, unexpired authorisation is for (None otherwise); uses nothing.
        Lets checkout pick the wallet of the member who will pay before it writes the payment."""

    def consume_authorization(
        self,
        auth_id: str,
        *,
        order_ref: str,
        amount_minor: int,
        currency: str,
        member_id: str | None = None,
        payment_ref: str | None = None,
    ) -> FaceAuthorization:
        """Use the authorisation once; raises an EdgeError if unknown, used, expired or mismatched.

        `member_id`: the member attached to the cart; an authorisation for another face is refused
        (403 face_member_mismatch). `payment_ref`: the payment's id, recorded with the use.
        """


class FaceAdmin(Protocol):
    """What the store's back office (down-sync, the dashboard) may ask of face-pay."""

    def erase_all(self, requests: list[tuple[str, str]], actor: str) -> list[str]:
        """Erase several members (member_id, reason) in one transaction; returns those erased."""

    def models_status(self) -> dict[str, Any]:
        """The face models: manifest, version and sha256 check of each file (for the dashboard)."""
