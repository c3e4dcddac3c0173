"""Abuse controls: attempts per kiosk and per member, and a lockout after repeated failures.

Counts come from the attempt rows themselves (durable across restarts), so a kiosk cannot reset
its budget by rebooting the daemon. An attempt is taken (`reserve`) in the same write as its
check, before the models run: checked first and counted after, 100 concurrent attempts would all
pass a limit of 6. One attempt runs at a time per kiosk and per member, which is what makes the
lockout exact: the failure after the limit is never evaluated.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_
from sqlmodel import col, select

from edge.facepay.models import FaceAttempt, FaceLockout
from edge.facepay.settings import FacepaySettings
from edge.platform.errors import RateLimited
from edge.platform.store import ReadTx, Tx
from edge.platform.timeutil import as_utc

PENDING = "pending"
# An attempt still pending this long was cut short: it no longer blocks. Far above any real
# attempt (seconds, queueing for the models included); a restart clears them at once anyway.
PENDING_STALE = timedelta(minutes=5)


def _count(session: ReadTx, since: datetime, **where: str) -> int:
    stmt = select(func.count()).select_from(FaceAttempt).where(FaceAttempt.ts >= since)
    stmt = stmt.where(FaceAttempt.decision != "refused")
    for name, value in where.items():
        stmt = stmt.where(getattr(FaceAttempt, name) == value)
    return int(session.exec(stmt).one())


def check_lockout(session: ReadTx, subject: str, now: datetime) -> None:
    row = session.get(FaceLockout, subject)
    if row is not None and row.locked_until is not None and as_utc(row.locked_until) > now:
        left = int((as_utc(row.locked_until) - now).total_seconds() // 60) + 1
        raise RateLimited(
            f"face-pay is locked for {subject.split(':', 1)[0]} after repeated failures; "
            f"try again in {left} min "
            "or pay another way",
            code="face_locked_out",
            details={
                "subject": subject.split(":", 1)[0],
                "retry_after_s": int((as_utc(row.locked_until) - now).total_seconds()),
            },
        )


def check_limits(session: ReadTx, cfg: FacepaySettings, kiosk_id: str, member_id: str | None, now: datetime) -> None:
    """Raise RateLimited (typed code) when this attempt must not run."""
    check_lockout(session, f"kiosk:{kiosk_id}", now)
    if member_id is not None:
        check_lockout(session, f"member:{member_id}", now)
    if _count(session, now - timedelta(minutes=1), kiosk_id=kiosk_id) >= cfg.attempts_per_kiosk_per_min:
        raise RateLimited(
            "too many face-pay attempts at this kiosk; wait a minute",
            code="face_rate_limited",
            details={"subject": "kiosk", "retry_after_s": 60},
        )
    if member_id is not None and _count(session, now - timedelta(hours=1), member_id=member_id) >= (
        cfg.attempts_per_member_per_hour
    ):
        raise RateLimited(
            "too many face-pay attempts for this member; try later or pay another way",
            code="face_rate_limited",
            details={"subject": "member", "retry_after_s": 3600},
        )


def reserve(session: Tx, cfg: FacepaySettings, kiosk_id: str, member_id: str | None, now: datetime) -> FaceAttempt:
    """Check the limits and take the attempt in one write; refuse while another is running."""
    check_limits(session, cfg, kiosk_id, member_id, now)
    running = col(FaceAttempt.kiosk_id) == kiosk_id
    if member_id is not None:
        running = or_(running, col(FaceAttempt.member_id) == member_id)
    busy = select(FaceAttempt.id).where(FaceAttempt.decision == PENDING, FaceAttempt.ts >= now - PENDING_STALE)
    if session.exec(busy.where(running).limit(1)).first() is not None:
        raise RateLimited(
            "a face check is already running for this kiosk or member; wait for its answer",
            code="face_attempt_in_progress",
            details={"subject": "attempt", "retry_after_s": 2},
        )
    attempt = FaceAttempt(ts=now, kiosk_id=kiosk_id, member_id=member_id, mode="-", decision=PENDING)
    session.add(attempt)
    return attempt


def clear_pending(session: Tx) -> int:
    """At start: nothing is in flight after a restart, so no attempt may block (a crash mid-attempt
    leaves its row pending). Returns how many were cleared."""
    stale = session.exec(select(FaceAttempt).where(FaceAttempt.decision == PENDING)).all()
    for attempt in stale:
        attempt.decision, attempt.reason = "refused", "interrupted"  # kept for the audit trail, not counted
        session.add(attempt)
    return len(stale)


def record_outcome(session: Tx, cfg: FacepaySettings, subjects: list[str], failed: bool, now: datetime) -> list[str]:
    """Count a failure (lock at the limit) or clear the count on success; returns newly locked subjects."""
    locked: list[str] = []
    for subject in subjects:
        row = session.get(FaceLockout, subject)
        if not failed:
            if row is not None:
                row.failures, row.locked_until = 0, None
                session.add(row)
            continue
        if row is None:
            row = FaceLockout(subject=subject, failures=0)
        row.failures += 1
        if row.failures >= cfg.lockout_failures:
            row.locked_until = now + timedelta(minutes=cfg.lockout_minutes)
            row.failures = 0
            locked.append(subject)
        session.add(row)
    return locked
