"""Who may enrol a face for a member: proof that the person at the kiosk is that member.

A kiosk must present the member's signed QR code (`RM1:`); its signature is checked by the
platform's signed codes (edge.platform.codes), so the crypto lives in one place. A store-IT
login (staff at the back office or standing at the kiosk) vouches for the member instead.
"""

from __future__ import annotations

from edge.platform.codes import Codes
from edge.platform.errors import Forbidden
from edge.platform.security import SecretStore


def member_from_code(secrets: SecretStore, code: str) -> str:
    """The member id in a signed member QR code; member_code_invalid (400) / member_expired (410)."""
    return Codes(secrets).member_id(code.strip())


def check_enrol_proof(secrets: SecretStore, *, by_staff: bool, member_id: str, member_code: str | None) -> None:
    """Refuse (403) a kiosk enrolment whose member code is missing or names another member."""
    if by_staff:
        return
    if not member_code:
        raise Forbidden(
            "a kiosk enrolment needs the member's QR code (or a staff login)", code="face_member_proof_required"
        )
    if member_from_code(secrets, member_code) != member_id:
        raise Forbidden("the member code belongs to another member", code="face_member_proof_mismatch")
