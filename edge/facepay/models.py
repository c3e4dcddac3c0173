"""Face-pay tables and API schemas.

No table holds a face image. A template is an AES-256-GCM sealed embedding (with its key id),
bound by the associated data to its own row and member so a blob cannot be moved to another.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, StringConstraints
from pydantic import Field as PField
from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from edge.platform.ids import new_id
from edge.platform.text import CodeStr, OpaqueStr, SafeStr
from edge.platform.timeutil import utcnow


class FaceMember(SQLModel, table=True):
    """Our minimal member reference: an id and, optionally, a keyed hash of phone digits."""

    __tablename__ = "face_member"

    member_id: str = Field(primary_key=True, max_length=64)
    phone_hash: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class FaceTemplate(SQLModel, table=True):
    __tablename__ = "face_template"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    member_id: str = Field(max_length=64, unique=True, index=True)
    key_id: str = Field(max_length=16)
    blob: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    embedder: str = Field(max_length=80)
    dim: int = Field()
    frames: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class FaceConsent(SQLModel, table=True):
    """A recorded consent (kept after erasure as proof, with the erasure time)."""

    __tablename__ = "face_consent"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    member_id: str = Field(max_length=64, index=True)
    consent_version: str = Field(max_length=32)
    kiosk_id: str = Field(max_length=64)
    actor: str = Field(max_length=80)
    given_at: datetime = Field(default_factory=utcnow)
    withdrawn_at: datetime | None = Field(default=None)


class FaceAttempt(SQLModel, table=True):
    """Every verification attempt: scores and decision only (counted by the abuse limits)."""

    __tablename__ = "face_attempt"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    ts: datetime = Field(default_factory=utcnow, index=True)
    kiosk_id: str = Field(max_length=64, index=True)
    member_id: str | None = Field(default=None, max_length=64, index=True)
    mode: str = Field(max_length=8)
    decision: str = Field(max_length=16)
    reason: str = Field(default="", max_length=64)
    similarity: float | None = Field(default=None)
    margin: float | None = Field(default=None)
    liveness: float | None = Field(default=None)
    detection_score: float | None = Field(default=None)


class FaceLockout(SQLModel, table=True):
    """Consecutive failures per subject ("kiosk:<id>" or "member:<id>") and the lockout end."""

    __tablename__ = "face_lockout"

    subject: str = Field(primary_key=True, max_length=80)
    failures: int = Field(default=0)
    locked_until: datetime | None = Field(default=None)


class FaceAuthorizationRow(SQLModel, table=True):
    """A single-use payment authorisation bound to order, amount, currency and member."""

    __tablename__ = "face_authorization"

    auth_id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    member_id: str = Field(max_length=64)
    kiosk_id: str = Field(max_length=64)
    order_ref: str = Field(max_length=64, index=True)
    amount_minor: int = Field()
    currency: str = Field(max_length=3)
    attempt_id: str = Field(max_length=36)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field()
    used_at: datetime | None = Field(default=None)


# --- API schemas -------------------------------------------------------------------------


# A base64 image is refused by the schema before decoding when it is beyond any sane upload.
B64Image = Annotated[OpaqueStr, StringConstraints(max_length=14_000_000)]


MemberCode = Annotated[CodeStr, StringConstraints(max_length=2100)]
MEMBER_CODE_DOC = "The member's signed QR code (RM1:...); required from a kiosk, optional for staff."


class EnrollImagesIn(BaseModel):
    """Enrolment from base64 images (JSON; there is no multipart route: nothing is spooled to disk)."""

    member_id: str = PField(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    member_code: MemberCode | None = PField(default=None, description=MEMBER_CODE_DOC)
    consent_version: SafeStr = PField(max_length=32)
    consent: bool = PField(description="The member agreed to the consent text of this version.")
    phone_digits: str | None = PField(default=None, pattern=r"^[0-9]{4,20}$")
    images_b64: list[B64Image] = PField(default_factory=list, max_length=10)


class EnrollCameraIn(BaseModel):
    member_id: str = PField(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    member_code: MemberCode | None = PField(default=None, description=MEMBER_CODE_DOC)
    consent_version: SafeStr = PField(max_length=32)
    consent: bool
    phone_digits: str | None = PField(default=None, pattern=r"^[0-9]{4,20}$")
    kiosk_id: str | None = PField(
        default=None, pattern=r"^[A-Za-z0-9_.@-]{1,64}$", description="Staff only: the kiosk whose camera to use."
    )


class EnrollOut(BaseModel):
    member_id: str
    template_id: str
    frames_used: int
    frames_rejected: dict[str, int]
    liveness: float | None
    expires_at: datetime
    consent_id: str


class VerifyIn(BaseModel):
    member_hint: CodeStr | None = PField(
        default=None,
        max_length=2100,
        description="The member's signed QR code (RM1:..., 1:1) or phone:<digits> (narrows 1:N); never a bare id.",
    )
    images_b64: list[B64Image] = PField(default_factory=list, max_length=10)
    kiosk_id: str | None = PField(default=None, pattern=r"^[A-Za-z0-9_.@-]{1,64}$")


class VerifyOut(BaseModel):
    decision: str
    reason: str
    member_id: str | None
    mode: str
    similarity: float | None
    margin: float | None
    liveness: float | None
    detection_score: float | None
    models: dict[str, str]
    timings_ms: dict[str, float]
    frames: int = 0
    good_frames: int = 0
    notes: list[str] = PField(default_factory=list)
    attempt_id: str | None = None
    authorization: dict[str, Any] | None = None


class EraseOut(BaseModel):
    member_id: str
    erased: bool


class CountsOut(BaseModel):
    members: int
    templates: int
    consents_active: int
    gallery_loaded: int
    expiring_30d: int
