"""Verification (1:1 or 1:N), abuse limits, audit, and single-use payment authorisations.

A result keeps the detector's confidence, the liveness score and the match similarity in
separate fields, so a detection confidence is never read as a match score.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select

from edge.checkout.contract import CartMembers
from edge.facepay.capture import grab_frames
from edge.facepay.contract import FaceAuthorization
from edge.facepay.enrolment import STREAM, EnrolmentService
from edge.facepay.gallery import MatchResult, decide_many, decide_one
from edge.facepay.limits import PENDING, record_outcome, reserve
from edge.facepay.metrics import ATTEMPTS, observe_attempt
from edge.facepay.models import FaceAttempt, FaceAuthorizationRow, FaceMember
from edge.facepay.pipeline import Frames
from edge.facepay.proof import member_from_code
from edge.facepay.runtime import FaceRuntime
from edge.platform.codes import MEMBER_PREFIX
from edge.platform.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound, RateLimited, Unavailable
from edge.platform.security import SecretStore
from edge.platform.store import Store
from edge.platform.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


class VerificationService:
    """The `facepay` service other domains get (edge/facepay/contract.py FacePayer)."""

    def __init__(
        self,
        store: Store,
        runtime: FaceRuntime,
        enrolment: EnrolmentService,
        cameras: Callable[[], Any] = lambda: None,
        secrets: SecretStore | None = None,
        carts: Callable[[], CartMembers | None] = lambda: None,
    ) -> None:
        self.store = store
        self.secrets = secrets  # checks signed member codes (a claimed identity for 1:1)
        self.rt = runtime
        self.cfg = runtime.cfg
        self.enrolment = enrolment
        self.cameras = cameras  # looked up per call: the camera component is built after this one
        self.carts = carts  # the member attached to the cart being paid (checkout's contract)

    # --- the claimed identity -----------------------------------------------------------------
    def _resolve_hint(
        self, hint: str | None, attached: str | None = None
    ) -> tuple[str | None, set[str] | None, str | None]:
        """(claimed member for 1:1, candidate set for 1:N, member whose attempt budget is used).

        Only a signed member QR code (`RM1:...`) proves a claimed identity, so only it runs 1:1
        (threshold alone): read here, or attached to the cart by one (`attached`, from checkout's
        contract). `phone:<digits>` proves nothing: it narrows the candidates, and the margin rule
        still applies among them. A bare member id is refused.
        """
        if attached is not None:
            return self._enrolled(attached), {attached}, attached
        if not hint:
            return None, None, None
        if hint.startswith("phone:"):
            digits = hint[6:]
            if not digits.isdigit() or len(digits) < 4:
                raise InvalidInput("phone digits must be at least 4 digits", code="face_bad_hint")
            cands = self.enrolment.candidates_for_phone(digits)
            return None, cands, (next(iter(cands)) if len(cands) == 1 else None)
        if not hint.startswith(MEMBER_PREFIX):
            raise InvalidInput(
                "a member hint is phone:<digits> or the member's signed QR code, never a bare member id",
                code="face_hint_unsigned",
            )
        if self.secrets is None:
            raise Unavailable("member codes cannot be checked on this box", code="face_unavailable")
        member_id = self._enrolled(member_from_code(self.secrets, hint))
        return member_id, {member_id}, member_id

    def _enrolled(self, member_id: str) -> str:
        with self.store.read() as s:
            if s.get(FaceMember, member_id) is None:
                raise NotFound("this member has not enrolled for face-pay", code="face_member_unknown")
        return member_id

    def verify(
        self,
        *,
        kiosk_id: str,
        actor: str,
        member_hint: str | None = None,
        frames: Frames | None = None,
        stills: bool = False,
        payment: dict[str, Any] | None = None,
        attached: str | None = None,
    ) -> dict[str, Any]:
        """One attempt: limits, capture, pipeline, decision, audit (+ authorisation if paying)."""
        self.rt.ready()  # face-pay down: refused before an attempt is taken
        claimed, candidates, budget = self._resolve_hint(member_hint, attached)
        now = utcnow()
        try:
            with self.store.write(durable=False) as s:  # nothing is in flight after a crash
                reserved = reserve(s, self.cfg, kiosk_id, budget, now).id
        except RateLimited as exc:
            self._record_refusal(kiosk_id, budget, actor, exc.code)
            raise
        try:
            return self._attempt(reserved, kiosk_id, actor, claimed, candidates, budget, now, frames, stills, payment)
        except BaseException:
            self._release(reserved)
            raise

    def _release(self, reserved: str) -> None:
        """An attempt that was not evaluated does not count; if even this write fails, the row
        stops blocking once it is stale (limits.PENDING_STALE)."""
        try:
            with self.store.write(durable=False) as s:
                s.run(delete(FaceAttempt).where(col(FaceAttempt.id) == reserved, col(FaceAttempt.decision) == PENDING))
        except Exception:  # the attempt's own error is the one to report
            log.warning("face attempt %s could not be released; it lapses by itself", reserved, exc_info=True)

    def _attempt(
        self,
        reserved: str,
        kiosk_id: str,
        actor: str,
        claimed: str | None,
        candidates: set[str] | None,
        budget: str | None,
        now: datetime,
        frames: Frames | None,
        stills: bool,
        payment: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The reserved attempt: capture, pipeline, decision, and its outcome in the attempt row."""
        pipeline, gallery, models = self.rt.ready()
        capture_ms: float | None = None
        if frames is None:
            t_cap = time.perf_counter()
            frames = grab_frames(self.cameras(), kiosk_id, self.cfg.liveness_frames, self.cfg.capture_window_s)
            capture_ms = (time.perf_counter() - t_cap) * 1000
        if not frames:
            raise InvalidInput("no frames to verify", code="face_no_images")
        t0 = time.perf_counter()
        with self.rt.run_lock:
            probe = pipeline.probe(frames, liveness=True, detect_width=self.cfg.still_detect_width if stills else None)
            t_match = time.perf_counter()
            single = probe.good_frames <= 1
            live_needed = self.cfg.liveness_single_threshold if single else self.cfg.liveness_threshold
            match: MatchResult | None = None
            if not probe.usable or probe.embedding is None:
                decision, reason = "rejected", probe.reasons[0] if probe.reasons else "no_face"
            elif probe.liveness is None or probe.liveness < live_needed:
                decision, reason = "spoof", "liveness"
            else:
                if claimed is not None:
                    sim = gallery.similarity(claimed, probe.embedding)
                    match = (
                        decide_one(sim, claimed, self.cfg.match_threshold)
                        if sim is not None
                        else MatchResult("no_match", "not_enrolled", None, None, None)
                    )
                elif candidates is not None and not candidates:
                    match = MatchResult("no_match", "not_enrolled", None, None, None)
                else:
                    match = decide_many(
                        gallery.top2(probe.embedding, candidates),
                        self.cfg.match_threshold,
                        self.cfg.match_margin,
                    )
                decision, reason = match.decision, match.reason
            timings = {k: round(v, 2) for k, v in probe.timings_ms.items()}
            timings["match"] = round((time.perf_counter() - t_match) * 1000, 3)
            timings["total"] = round((time.perf_counter() - t0) * 1000, 2)
            if capture_ms is not None:
                timings["capture"] = round(capture_ms, 1)  # waiting for camera frames, not computing
        member_id = match.member_id if match else None
        result: dict[str, Any] = {
            "decision": decision,
            "reason": reason,
            "member_id": member_id,
            "mode": "1:1" if claimed is not None else "1:N",
            "similarity": _r(match.similarity if match else None),
            "margin": _r(match.margin if match else None),
            "liveness": _r(probe.liveness),
            "detection_score": _r(probe.detection_score),
            "frames": probe.frames,
            "good_frames": probe.good_frames,
            "notes": probe.notes,
            "models": models.versions(),
            "timings_ms": timings,
            "authorization": None,
        }
        failed = decision in ("no_match", "spoof")
        subjects = [f"kiosk:{kiosk_id}"] + ([f"member:{budget}"] if budget else [])
        with self.store.write() as s:
            attempt = s.get(FaceAttempt, reserved) or FaceAttempt(
                id=reserved, ts=now, kiosk_id=kiosk_id, mode="-", decision=PENDING
            )
            attempt.member_id = budget or member_id
            attempt.mode, attempt.decision, attempt.reason = result["mode"], decision, reason[:64]
            attempt.similarity, attempt.margin = result["similarity"], result["margin"]
            attempt.liveness, attempt.detection_score = result["liveness"], result["detection_score"]
            s.add(attempt)
            locked = record_outcome(s, self.cfg, subjects, failed, now) if decision != "rejected" else []
            scores = {
                k: result[k]
                for k in ("decision", "reason", "mode", "similarity", "margin", "liveness", "detection_score")
            }
            s.audit(
                actor,
                "face.verify",
                claimed or member_id or "",
                kiosk_id=kiosk_id,
                attempt_id=attempt.id,
                member_id=member_id,
                locked=locked,
                **scores,
            )
            s.outbox(
                STREAM,
                "verification",
                {
                    "attempt_id": attempt.id,
                    "kiosk_id": kiosk_id,
                    "member_id": member_id,
                    "ts": now.isoformat(),
                    **scores,
                },
            )
            if payment is not None and decision == "match" and member_id is not None:
                auth = FaceAuthorizationRow(
                    member_id=member_id,
                    kiosk_id=kiosk_id,
                    attempt_id=attempt.id,
                    expires_at=now + timedelta(seconds=self.cfg.authorization_ttl_s),
                    **payment,
                )
                s.add(auth)
                result["authorization"] = _auth(auth)
        result["attempt_id"] = attempt.id
        observe_attempt(decision, timings)
        log.info(  # scores and decision only: never a frame, a crop or an embedding
            "face verify %s at %s: %s (%s) similarity=%s margin=%s liveness=%s",
            result["mode"],
            kiosk_id,
            decision,
            reason or "-",
            result["similarity"],
            result["margin"],
            result["liveness"],
        )
        return result

    def _record_refusal(self, kiosk_id: str, member_id: str | None, actor: str, code: str) -> None:
        ATTEMPTS.labels("refused").inc()
        with self.store.write() as s:
            attempt = FaceAttempt(kiosk_id=kiosk_id, member_id=member_id, mode="-", decision="refused", reason=code)
            s.add(attempt)
            s.audit(
                actor,
                "face.verify",
                member_id or "",
                kiosk_id=kiosk_id,
                attempt_id=attempt.id,
                decision="refused",
                reason=code,
            )

    # --- FacePayer ----------------------------------------------------------------------------
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
        if not isinstance(amount_minor, int) or amount_minor <= 0:
            raise InvalidInput("the amount must be a positive integer in minor units", code="face_bad_amount")
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha() and currency.isupper()):
            raise InvalidInput("the currency must be an ISO 4217 code", code="face_bad_currency")
        if not order_ref or len(order_ref) > 64:
            raise InvalidInput("an order reference of 1..64 characters is needed", code="face_bad_order_ref")
        payment = {"order_ref": order_ref, "amount_minor": amount_minor, "currency": currency}
        carts = self.carts()
        member = carts.attached_member(order_ref) if carts is not None else None  # the order ref is the cart
        return self.verify(
            kiosk_id=kiosk_id,
            actor=f"kiosk:{kiosk_id}",
            member_hint=member_hint,
            frames=frames,
            payment=payment,
            attached=member.member_id if member is not None and member.via == "code" else None,
        )

    def authorized_member(self, auth_id: str) -> str | None:
        with self.store.read() as s:
            row = s.get(FaceAuthorizationRow, auth_id) if len(auth_id) <= 64 else None
        if row is None or row.used_at is not None or as_utc(row.expires_at) <= utcnow():
            return None
        return str(row.member_id)

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
        """Use it once. `member_id`: the member attached to the cart, whose face it must be."""
        now = utcnow()
        with self.store.read() as s:
            row = s.get(FaceAuthorizationRow, auth_id)
            if row is None:
                raise NotFound("unknown face-pay authorisation", code="face_auth_unknown")
            if row.used_at is not None:
                raise Conflict("this face-pay authorisation was already used", code="face_auth_used")
            if as_utc(row.expires_at) <= now:
                raise Gone("this face-pay authorisation has expired; verify again", code="face_auth_expired")
            if (row.order_ref, row.amount_minor, row.currency) != (order_ref, amount_minor, currency):
                raise Conflict("this authorisation is for another order or amount", code="face_auth_mismatch")
            kiosk, auth = row.kiosk_id, _auth(row)
        if member_id is not None and auth.member_id != member_id:  # audited (left unused), then refused
            with self.store.write() as s:
                s.audit(
                    f"kiosk:{kiosk}",
                    "face.auth_refused",
                    auth.member_id,
                    auth_id=auth_id,
                    order_ref=order_ref,
                    cart_member_id=member_id,
                    reason="face_member_mismatch",
                )
            raise Forbidden("the face verified is not the member attached to this cart", code="face_member_mismatch")
        with self.store.write() as s:
            table = FaceAuthorizationRow.__table__  # type: ignore[attr-defined]
            done = s.run(update(table).where(table.c.auth_id == auth_id, table.c.used_at.is_(None)).values(used_at=now))
            if done.rowcount != 1:
                raise Conflict("this face-pay authorisation was already used", code="face_auth_used")
            s.audit(
                f"kiosk:{kiosk}",
                "face.auth_used",
                auth.member_id,
                auth_id=auth_id,
                order_ref=order_ref,
                amount_minor=amount_minor,
                currency=currency,
                payment_id=payment_ref,
                cart_member_id=member_id,
            )
        return auth

    def pending_authorizations(self, order_ref: str) -> list[str]:
        with self.store.read() as s:
            rows = s.exec(select(FaceAuthorizationRow.auth_id).where(FaceAuthorizationRow.order_ref == order_ref))
            return list(rows.all())


def _auth(row: FaceAuthorizationRow) -> FaceAuthorization:
    return FaceAuthorization(
        auth_id=row.auth_id,
        member_id=row.member_id,
        order_ref=row.order_ref,
        amount_minor=row.amount_minor,
        currency=row.currency,
        expires_at=as_utc(row.expires_at),
    )
