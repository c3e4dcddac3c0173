"""Consented enrolment, erasure, retention and counts (no face image is kept, ever).

A template is the mean of several L2-normalised embeddings from frames that passed the quality
and liveness gates, sealed with AES-256-GCM. The consent (member, time, text version, kiosk)
and an outbox event are written in the same transaction as the template. Replacing a member's
template needs staff, or a new face that matches the current template 1:1 (`match_threshold`).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlmodel import select

from edge.facepay.capture import phone_hash
from edge.facepay.gallery import open_template, seal_template
from edge.facepay.metrics import ENROLMENTS
from edge.facepay.models import EnrollOut, FaceConsent, FaceMember, FaceTemplate
from edge.facepay.pipeline import Frames
from edge.facepay.runtime import FaceRuntime
from edge.facepay.settings import FacepaySettings
from edge.platform.errors import Conflict, Forbidden, InvalidInput, NotFound, Unprocessable
from edge.platform.ids import new_id
from edge.platform.security import Sealer
from edge.platform.store import Store, Tx
from edge.platform.timeutil import as_utc, utcnow
from edge.platform.writeslot import BACKGROUND

log = logging.getLogger(__name__)
STREAM = "face"
MIN_ENROL_FRAMES = 2  # good frames every enrolment needs (kiosk camera, uploads and the staff CLI)


class EnrolmentService:
    def __init__(self, store: Store, runtime: FaceRuntime, sealer: Sealer, pepper: bytes) -> None:
        self.store = store
        self.rt = runtime
        self.cfg: FacepaySettings = runtime.cfg
        self.sealer = sealer
        self.pepper = pepper

    # --- gallery --------------------------------------------------------------------------
    def load_gallery(self, rt: FaceRuntime) -> None:
        """Decrypt every unexpired template of the current embedder into the in-memory matrix."""
        assert rt.gallery is not None and rt.models is not None
        now = utcnow()
        with self.store.read() as s:
            rows = s.exec(select(FaceTemplate)).all()
        skipped = 0
        for row in rows:
            if as_utc(row.expires_at) <= now or row.embedder != rt.models.embedder.spec.version:
                skipped += 1
                continue
            try:
                vec = open_template(self.sealer, row.key_id, row.blob, row.id, row.member_id, row.dim)
            except Exception:
                skipped += 1
                log.error("face template %s does not decrypt (tampered or key missing); skipped", row.id)
                continue
            rt.gallery.put(row.member_id, vec, as_utc(row.expires_at).timestamp())
        if skipped:
            log.warning("%d face templates not loaded (expired, other embedder or undecryptable)", skipped)

    # --- enrolment ------------------------------------------------------------------------
    def enroll(
        self,
        *,
        member_id: str,
        frames: Frames,
        consent: bool,
        consent_version: str,
        kiosk_id: str,
        actor: str,
        phone_digits: str | None = None,
        stills: bool = False,
        by_staff: bool = False,
    ) -> EnrollOut:
        """Enrol (or re-enrol) a member. `stills`: uploaded photos, judged one frame at a time.

        The caller has proved who the member is (member QR code, or staff: `proof.py`). A member
        who already has a template is re-enrolled only by staff or by the same face.
        """
        if not consent:
            raise InvalidInput("enrolment needs the member's recorded consent", code="face_consent_required")
        if consent_version not in self.cfg.consent_versions:
            raise InvalidInput(
                f"unknown consent text version {consent_version!r}",
                code="face_consent_version_unknown",
                details={"known": self.cfg.consent_versions},
            )
        if not frames:
            raise InvalidInput("enrolment needs at least one image or frame", code="face_no_images")
        if len(frames) < MIN_ENROL_FRAMES:  # one photo: one pose and light, and easy to take from a profile
            raise InvalidInput(
                f"enrolment needs at least {MIN_ENROL_FRAMES} images of the member's face",
                code="face_enroll_too_few_images",
                details={"needed": MIN_ENROL_FRAMES, "given": len(frames)},
            )
        pipeline, gallery, models = self.rt.ready()
        width = self.cfg.still_detect_width if stills else None
        with self.rt.run_lock:
            results = pipeline.analyse_each(frames, liveness=True, detect_width=width)
        threshold = self.cfg.liveness_single_threshold if stills else self.cfg.liveness_threshold
        rejected: Counter[str] = Counter()
        good: list[np.ndarray] = []
        lives: list[float] = []
        for r in results:
            if not r.usable or r.embedding is None:
                rejected[r.reasons[0] if r.reasons else "no_face"] += 1
            elif r.liveness is None or r.liveness < threshold:
                rejected["liveness"] += 1
            else:
                good.append(r.embedding)
                lives.append(float(r.liveness))
        need = max(MIN_ENROL_FRAMES, min(self.cfg.enroll_frames, len(frames)) if stills else self.cfg.enroll_frames)
        if len(good) < need:
            ENROLMENTS.labels("quality").inc()
            raise Unprocessable(
                f"only {len(good)} of {len(frames)} frames passed the quality and liveness gates; {need} needed",
                code="face_enroll_quality",
                details={"rejected": dict(rejected), "needed": need},
            )
        mat = np.stack(good)
        mean = mat.mean(axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        if float((mat @ mat.T).min()) < self.cfg.match_threshold:  # every pair: same person
            raise Unprocessable("the frames do not all show the same person", code="face_enroll_inconsistent")
        other = [(m, sc) for m, sc in gallery.top2(mean) if m != member_id and sc >= self.cfg.match_threshold]
        if other:
            raise Conflict(
                "this face already matches another enrolled member; erase that enrolment first",
                code="face_already_enrolled",
            )
        now = utcnow()
        template_id = new_id()
        kid, blob = seal_template(self.sealer, template_id, member_id, mean)
        expires = now + timedelta(days=self.cfg.retention_days)
        with self.store.write() as s:
            olds = list(s.exec(select(FaceTemplate).where(FaceTemplate.member_id == member_id)).all())
            refusal = None if by_staff else self._replacement_refusal(olds, mean, now)
            if refusal is not None:  # audited in this transaction; nothing else is written
                s.audit(actor, "face.enroll_refused", member_id, kiosk_id=kiosk_id, reason=refusal.code)
            else:
                member = s.get(FaceMember, member_id) or FaceMember(member_id=member_id)
                if phone_digits:
                    member.phone_hash = phone_hash(self.pepper, phone_digits)
                s.add(member)
                for old in olds:
                    s.delete(old)
                s.flush()
                s.add(
                    FaceTemplate(
                        id=template_id,
                        member_id=member_id,
                        key_id=kid,
                        blob=blob,
                        embedder=models.embedder.spec.version,
                        dim=int(mean.shape[0]),
                        frames=len(good),
                        created_at=now,
                        expires_at=expires,
                    )
                )
                consent_row = FaceConsent(
                    member_id=member_id,
                    consent_version=consent_version,
                    kiosk_id=kiosk_id,
                    actor=actor,
                    given_at=now,
                )
                s.add(consent_row)
                s.outbox(
                    STREAM,
                    "consent",
                    {
                        "consent_id": consent_row.id,
                        "member_id": member_id,
                        "consent_version": consent_version,
                        "kiosk_id": kiosk_id,
                        "given_at": now.isoformat(),
                        "template_expires_at": expires.isoformat(),
                    },
                )
                s.audit(
                    actor,
                    "face.enroll",
                    member_id,
                    kiosk_id=kiosk_id,
                    frames=len(good),
                    rejected=dict(rejected),
                    consent_version=consent_version,
                )
        if refusal is not None:
            ENROLMENTS.labels("refused").inc()
            raise refusal
        gallery.put(member_id, mean, expires.timestamp())
        ENROLMENTS.labels("ok").inc()
        log.info(
            "face enrolled for %s at %s from %d frames (%s rejected)",
            member_id,
            kiosk_id,
            len(good),
            sum(rejected.values()),
        )
        return EnrollOut(
            member_id=member_id,
            template_id=template_id,
            frames_used=len(good),
            frames_rejected=dict(rejected),
            liveness=float(np.mean(lives)),
            expires_at=expires,
            consent_id=consent_row.id,
        )

    def _replacement_refusal(self, olds: list[FaceTemplate], mean: np.ndarray, now: datetime) -> Forbidden | None:
        """Why a kiosk may not replace this member's live template with `mean` (None: it may).

        Only the same face (1:1 at the shipped `match_threshold`) may replace it; a template the
        current model cannot compare (other embedder, undecryptable) needs staff.
        """
        models = self.rt.models
        for old in olds:
            if as_utc(old.expires_at) <= now:
                continue  # past retention: the sweep erases it; it no longer identifies anyone
            if models is None or old.embedder != models.embedder.spec.version:
                return Forbidden(
                    "this member's template was made by another face model; staff must re-enrol them",
                    code="face_reenrol_needs_staff",
                )
            try:
                current = open_template(self.sealer, old.key_id, old.blob, old.id, old.member_id, old.dim)
            except Exception:
                log.error("face template %s does not decrypt; re-enrolment needs staff", old.id)
                return Forbidden(
                    "this member's template cannot be read; staff must re-enrol them", code="face_reenrol_needs_staff"
                )
            if float(current @ mean) < self.cfg.match_threshold:
                return Forbidden(
                    "this member is already enrolled with another face; only staff can replace it",
                    code="face_reenrol_mismatch",
                )
        return None

    # --- erasure and retention --------------------------------------------------------------
    def _erase_in(self, s: Tx, member_id: str, actor: str, reason: str, now: datetime) -> bool:
        found = False
        for row in s.exec(select(FaceTemplate).where(FaceTemplate.member_id == member_id)).all():
            s.delete(row)
            found = True
        member = s.get(FaceMember, member_id)
        if member is not None:
            s.delete(member)
            found = True
        for c in s.exec(select(FaceConsent).where(FaceConsent.member_id == member_id)).all():
            if c.withdrawn_at is None:
                c.withdrawn_at = now
                s.add(c)
        if found:
            s.outbox(STREAM, "erasure", {"member_id": member_id, "reason": reason, "erased_at": now.isoformat()})
            s.audit(actor, "face.erase", member_id, reason=reason)
        return found

    def erase(self, member_id: str, actor: str, reason: str = "request") -> bool:
        """Remove the member's template and phone hash, withdraw consent, queue the erasure event."""
        with self.store.write() as s:
            found = self._erase_in(s, member_id, actor, reason, utcnow())
        if not found:
            raise NotFound(f"member {member_id!r} has no face enrolment", code="face_member_unknown")
        if self.rt.gallery is not None:
            self.rt.gallery.remove(member_id)
        return True

    def erase_all(self, requests: list[tuple[str, str]], actor: str) -> list[str]:
        """Erase several members (member_id, reason) in one transaction: a cloud erasure version
        applies whole or not at all. Members never enrolled here are skipped; returns the erased."""
        now = utcnow()
        with self.store.write() as s:
            erased = [m for m, reason in requests if self._erase_in(s, m, actor, reason, now)]
        for member_id in erased:
            if self.rt.gallery is not None:
                self.rt.gallery.remove(member_id)
        return erased

    def purge_expired(self, now: datetime | None = None) -> int:
        """Erase every template past its retention date (same event as an erasure)."""
        now = now or utcnow()
        with self.store.write(priority=BACKGROUND) as s:
            gone = s.exec(select(FaceTemplate.member_id).where(FaceTemplate.expires_at <= now)).all()
            for member_id in gone:
                self._erase_in(s, member_id, "system:retention", "retention", now)
        for member_id in gone:
            if self.rt.gallery is not None:
                self.rt.gallery.remove(member_id)
        return len(gone)

    def reseal(self) -> tuple[int, str]:
        """Re-encrypt every template under the active key (after a rotation, before retiring old keys)."""
        kid_now, _ = self.sealer.ring.active()
        done = 0
        with self.store.write() as s:
            for row in s.exec(select(FaceTemplate).where(FaceTemplate.key_id != kid_now)).all():
                vec = open_template(self.sealer, row.key_id, row.blob, row.id, row.member_id, row.dim)
                row.key_id, row.blob = seal_template(self.sealer, row.id, row.member_id, vec)
                s.add(row)
                done += 1
            if done:
                s.audit("system:reseal", "face.reseal", "", templates=done, key_id=kid_now)
        return done, kid_now

    def counts(self) -> dict[str, Any]:
        now = utcnow()
        with self.store.read() as s:
            members = s.exec(select(func.count()).select_from(FaceMember)).one()
            templates = s.exec(select(func.count()).select_from(FaceTemplate)).one()
            consents = s.exec(
                select(func.count()).select_from(FaceConsent).where(FaceConsent.withdrawn_at.is_(None))  # type: ignore[union-attr]
            ).one()
            expiring = s.exec(
                select(func.count())
                .select_from(FaceTemplate)
                .where(FaceTemplate.expires_at <= now + timedelta(days=30))
            ).one()
        return {
            "members": int(members),
            "templates": int(templates),
            "consents_active": int(consents),
            "gallery_loaded": len(self.rt.gallery) if self.rt.gallery is not None else 0,
            "expiring_30d": int(expiring),
        }

    def candidates_for_phone(self, digits: str) -> set[str]:
        with self.store.read() as s:
            rows = s.exec(select(FaceMember.member_id).where(FaceMember.phone_hash == phone_hash(self.pepper, digits)))
            return set(rows.all())
