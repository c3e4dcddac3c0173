"""What the dashboard asks of sync: status, and the quarantine (list, requeue, discard)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, text
from sqlmodel import col, select

from edge.platform.errors import NotFound
from edge.platform.store import Store
from edge.platform.timeutil import utcnow
from edge.sync import metrics
from edge.sync.downsync import DownSync
from edge.sync.models import QuarantinedEvent, QuarantinePage, StreamBacklog, SyncQuarantine, SyncStatus
from edge.sync.settings import SyncSettings
from edge.sync.store import OutboxStore
from edge.sync.uploader import Uploader


class SyncService:
    def __init__(
        self, store: Store, settings: SyncSettings, uploader: Uploader | None, downsync: DownSync | None
    ) -> None:
        self.store = store
        self.settings = settings
        self.uploader = uploader
        self.downsync = downsync
        self.outbox = OutboxStore(store)

    def health(self) -> tuple[str, str, dict[str, Any]]:
        """(status, reason, details) for /readyz: degraded with the backlog age when the cloud is away."""
        backlog = self.uploader.state.backlog if self.uploader else self.outbox.backlog()
        age = backlog.oldest_age_s()
        details: dict[str, Any] = {"backlog": backlog.count, "oldest_unsent_age_s": round(age or 0.0, 1)}
        if not self.settings.url or self.uploader is None:
            # No uploader thread refreshes the gauges, so /metrics would say 0 over a growing backlog.
            metrics.BACKLOG.set(backlog.count)
            metrics.OLDEST_AGE.set(age or 0.0)
            return "degraded", f"sync.url is not set; {backlog.count} events wait in the outbox", details
        st = self.uploader.state
        if st.consecutive_failures:
            details["last_error"] = st.last_error
            return (
                "degraded",
                f"{st.last_error}; backlog {backlog.count} events, oldest {age or 0:.0f} s",
                details,
            )
        if age is not None and age > self.settings.degraded_backlog_age_s:
            return "degraded", f"backlog {backlog.count} events, oldest {age:.0f} s (draining)", details
        if self.downsync is not None:
            ds = self.downsync.status()
            details["downsync_staleness_s"] = ds["staleness_s"]
            if ds["last_error"]:
                return "degraded", f"down-sync: {ds['last_error']}", details
            stale = ds["staleness_s"]
            if stale is not None and stale > self.settings.downsync_stale_after_s:
                return "degraded", f"catalog and prices last checked {stale:.0f} s ago", details
        return "ok", f"{backlog.count} events waiting", details

    def status(self) -> SyncStatus:
        backlog = self.uploader.refresh_stats() if self.uploader else self.outbox.backlog()
        st = self.uploader.state if self.uploader else None
        status, reason, _ = self.health()
        with self.store.read() as s:
            quarantined = s.exec(select(func.count()).select_from(SyncQuarantine)).one()
        now = utcnow()
        return SyncStatus(
            enabled=bool(self.settings.url),
            cloud_url=self.settings.url,
            state=status,
            reason=reason,
            backlog=backlog.count,
            oldest_unsent_age_s=backlog.oldest_age_s(now),
            streams=[
                StreamBacklog(stream=n, unsent=c, oldest_unsent_at=t) for n, c, t in self.outbox.backlog_by_stream()
            ],
            sent_total=st.sent_total if st else 0,
            send_errors_total=st.errors_total if st else 0,
            last_success_at=st.last_success_at if st else None,
            last_error=st.last_error if st else "",
            last_error_at=st.last_error_at if st else None,
            next_attempt_in_s=max(0.0, (st.next_attempt_at - now).total_seconds())
            if st and st.next_attempt_at
            else None,
            quarantined=int(quarantined),
            downsync=self.downsync.status() if self.downsync else {},
        )

    def quarantine(self, limit: int = 50, offset: int = 0, stream: str | None = None) -> QuarantinePage:
        with self.store.read() as s:
            q = select(SyncQuarantine)
            count = select(func.count()).select_from(SyncQuarantine)
            if stream:
                q = q.where(SyncQuarantine.stream == stream)
                count = count.where(SyncQuarantine.stream == stream)
            rows = s.exec(q.order_by(col(SyncQuarantine.quarantined_at).desc()).offset(offset).limit(limit)).all()
            total = s.exec(count).one()
        return QuarantinePage(
            total=int(total),
            items=[QuarantinedEvent.model_validate(r, from_attributes=True) for r in rows],
        )

    def requeue(self, event_id: str, actor: str) -> None:
        """Put a quarantined event back at the end of its stream (same event id: still idempotent)."""
        with self.store.write() as s:
            row = s.get(SyncQuarantine, event_id)
            if row is None:
                raise NotFound(f"no quarantined event {event_id!r}", code="sync_event_unknown")
            s.execute(
                text(
                    "INSERT INTO outbox_event (event_id, stream, kind, schema_version, created_at, payload, attempts) "
                    "SELECT event_id, stream, kind, schema_version, created_at, payload, 0 FROM sync_quarantine "
                    "WHERE event_id = :id"
                ),
                {"id": event_id},
            )
            s.delete(row)
            s.audit(actor, "sync.requeue", event_id, stream=row.stream, kind=row.kind)
        if self.uploader:
            self.uploader.wake()

    def discard(self, event_id: str, actor: str) -> None:
        """Drop a quarantined event for good; the audit log keeps who did it and what it was."""
        with self.store.write() as s:
            row = s.get(SyncQuarantine, event_id)
            if row is None:
                raise NotFound(f"no quarantined event {event_id!r}", code="sync_event_unknown")
            s.delete(row)
            s.audit(actor, "sync.discard", event_id, stream=row.stream, kind=row.kind, code=row.code)
