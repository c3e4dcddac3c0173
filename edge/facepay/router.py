"""Face-pay HTTP API (thin): enrolment with consent, erasure, counts, verification.

Image routes authenticate first and only then read the body, into memory, with a hard byte cap
(`read_json`): FastAPI would otherwise read (or, for multipart, spool to disk) whatever arrives
before the token is even looked at. There is no multipart route: no image ever touches a disk.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from edge.facepay.capture import grab_frames
from edge.facepay.enrolment import EnrolmentService
from edge.facepay.models import (
    CountsOut,
    EnrollCameraIn,
    EnrollImagesIn,
    EnrollOut,
    EraseOut,
    VerifyIn,
    VerifyOut,
)
from edge.facepay.proof import check_enrol_proof
from edge.facepay.verification import VerificationService
from edge.platform.errors import InvalidInput
from edge.platform.identity import Principal
from edge.platform.images import LazyFrames, TooLarge
from edge.platform.web import CtxDep, Ident, KioskDep, StaffDep

router = APIRouter(prefix="/api/face", tags=["face-pay"])
MAX_IMAGES = 10
Body = TypeVar("Body", bound=BaseModel)


def _kiosk(who: Principal, given: str | None) -> str:
    """A kiosk device acts for itself; a staff user names the kiosk (or acts as the back office)."""
    if who.kind == "device":
        return who.id
    return given or "staff"


def _enrolment(ctx: CtxDep) -> EnrolmentService:
    return ctx.own(EnrolmentService)


def _verifier(ctx: CtxDep) -> VerificationService:
    return ctx.own(VerificationService)


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON body in the OpenAPI document (the route reads it itself, after authenticating)."""
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


async def read_json(request: Request, model: type[Body], max_bytes: int) -> Body:
    """The body, read into memory up to `max_bytes` (413 beyond), validated as `model` (422)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"the request is larger than {max_bytes} bytes", code="face_request_too_large")
    buf = bytearray()
    try:
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > max_bytes:
                raise TooLarge(f"the request is larger than {max_bytes} bytes", code="face_request_too_large")
    except ClientDisconnect:
        raise InvalidInput("the request body was cut short", code="face_request_incomplete") from None
    try:
        return model.model_validate_json(bytes(buf))
    except ValidationError as exc:
        # located like FastAPI's own body errors ("body.member_id"), so clients read one shape
        errors = [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def _max_body(ctx: CtxDep) -> int:
    """Room for MAX_IMAGES base64 images at the byte cap, plus the other fields."""
    return MAX_IMAGES * (ctx.settings.facepay.max_upload_bytes * 4 // 3 + 64) + 16_384


def _uploads(ctx: CtxDep, images: list[str]) -> LazyFrames:
    cfg = ctx.settings.facepay
    return LazyFrames.from_b64(images, max_bytes=cfg.max_upload_bytes, max_pixels=cfg.max_upload_pixels)


@router.post("/enroll", response_model=EnrollOut, status_code=201, openapi_extra=_body_doc(EnrollImagesIn))
async def enroll_json(request: Request, who: KioskDep, ctx: CtxDep) -> EnrollOut:
    """Enrol from base64 JPEG/PNG/WebP images (each judged with the single-frame liveness rule).

    A kiosk must send the member's QR code (`member_code`); staff may enrol without it.
    """
    body = await read_json(request, EnrollImagesIn, _max_body(ctx))
    by_staff = who.kind == "user"
    check_enrol_proof(ctx.secrets, by_staff=by_staff, member_id=body.member_id, member_code=body.member_code)
    if not body.images_b64:
        raise InvalidInput("images_b64 is empty; send images or use /enroll/camera", code="face_no_images")
    frames = _uploads(ctx, body.images_b64)
    return await run_in_threadpool(
        _enrolment(ctx).enroll,
        member_id=body.member_id,
        frames=frames,
        consent=body.consent,
        consent_version=body.consent_version,
        kiosk_id=_kiosk(who, None),
        actor=who.label,
        phone_digits=body.phone_digits,
        stills=True,
        by_staff=by_staff,
    )


@router.post("/enroll/camera", response_model=EnrollOut, status_code=201)
def enroll_camera(body: EnrollCameraIn, who: KioskDep, ctx: CtxDep) -> EnrollOut:
    """Enrol from the kiosk's face camera (several live frames)."""
    by_staff = who.kind == "user"
    check_enrol_proof(ctx.secrets, by_staff=by_staff, member_id=body.member_id, member_code=body.member_code)
    kiosk = _kiosk(who, body.kiosk_id)
    cfg = ctx.settings.facepay
    frames = grab_frames(ctx.services.cameras, kiosk, cfg.enroll_frames, cfg.capture_window_s * 2)
    return _enrolment(ctx).enroll(
        member_id=body.member_id,
        frames=frames,
        consent=body.consent,
        consent_version=body.consent_version,
        kiosk_id=kiosk,
        actor=who.label,
        phone_digits=body.phone_digits,
        by_staff=by_staff,
    )


@router.delete("/members/{member_id}", response_model=EraseOut)
def erase(member_id: Ident, who: StaffDep, ctx: CtxDep) -> EraseOut:
    """Erase a member's template and phone hash; queues the erasure for the cloud."""
    return EraseOut(member_id=member_id, erased=_enrolment(ctx).erase(member_id, who.label))


@router.get("/counts", response_model=CountsOut)
def counts(_who: StaffDep, ctx: CtxDep) -> CountsOut:
    """How many members, templates and consents (no biometric data)."""
    return CountsOut(**_enrolment(ctx).counts())


@router.post("/verify", response_model=VerifyOut, openapi_extra=_body_doc(VerifyIn))
async def verify(request: Request, who: KioskDep, ctx: CtxDep) -> VerifyOut:
    """Verify the shopper (images if given, else the kiosk camera); no payment authorisation."""
    body = await read_json(request, VerifyIn, _max_body(ctx))
    frames = _uploads(ctx, body.images_b64) if body.images_b64 else None
    result: dict[str, Any] = await run_in_threadpool(
        _verifier(ctx).verify,
        kiosk_id=_kiosk(who, body.kiosk_id),
        actor=who.label,
        member_hint=body.member_hint,
        frames=frames,
        stills=frames is not None,
    )
    auth = result.pop("authorization", None)
    return VerifyOut(**result, authorization=asdict(auth) if auth else None)
