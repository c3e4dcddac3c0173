"""The uploader's SQL over the outbox: page unsent rows, mark acknowledged ones, quarantine, prune.

Plain SQL on one connection instead of ORM objects: the drain rate target (thousands of events
per second on a small box) needs batches of rows, not objects. Timestamps are written in the
same text form SQLAlchemy uses for the DateTime columns, so ORM readers see the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from edge.platform.store import Store
from edge.platform.timeutil import utcnow
from edge.platform.writeslot import BACKGROUND


def sql_ts(value: datetime) -> str:
    """The text form SQLAlchemy's DateTime stores in SQLite (UTC, no offset)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def parse_ts(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def wire_ts(value: str) -> str:
    """SQLite's '2026-11-22 10:00:00.123456' as RFC 3339 UTC."""
    return value.replace(" ", "T", 1) + "Z"


@dataclass(frozen=True)
class Row:
    seq: int
    event_id: str
    stream: str
    kind: str
    schema_version: int
    created_at: str
    payload: str  # JSON text, sent as is

    @property
    def size(self) -> int:
        return len(self.payload) + len(self.kind) + len(self.stream) + 160


@dataclass(frozen=True)
class Rejection:
    seq: int
    http_status: int
    code: str
    reason: str


@dataclass(frozen=True)
class Backlog:
    count: int
    oldest_created_at: datetime | None

    def oldest_age_s(self, now: datetime | None = None) -> float | None:
        if self.oldest_created_at is None:
            return None
        return max(0.0, ((now or utcnow()) - self.oldest_created_at).total_seconds())


class OutboxStore:
    """Every statement the uploader runs against the outbox, each in its own short transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def next_batch(self, max_events: int, max_bytes: int, after_seq: int = 0) -> list[Row]:
        """The oldest unsent rows in seq order, bounded by count and bytes (at least one row)."""
        with self.store.read() as conn:
            result = conn.run(
                text(
                    "SELECT seq, event_id, stream, kind, schema_version, created_at, payload FROM outbox_event "
                    "WHERE sent_at IS NULL AND seq > :after ORDER BY seq LIMIT :n"
                ),
                {"after": after_seq, "n": max_events},
            )
            rows: list[Row] = []
            total = 0
            for r in result:
                row = Row(r[0], r[1], r[2], r[3], r[4], str(r[5]), r[6])
                if rows and total + row.size > max_bytes:
                    break
                rows.append(row)
                total += row.size
        if rows:
            self.store.sync_committed()  # group commit: what leaves the box must be on disk first
        return rows

    def settle(self, acked: Sequence[int], rejected: Sequence[Rejection]) -> None:
        """Mark acknowledged rows sent and move rejected ones to quarantine, in one transaction."""
        now = sql_ts(utcnow())
        with self.store.write(
            durable=False, priority=BACKGROUND
        ) as conn:  # a lost mark means a resend; the cloud dedupes
            if acked:
                conn.run(
                    text(
                        "UPDATE outbox_event SET sent_at = :now, attempts = attempts + 1, last_error = NULL "
                        "WHERE seq IN (SELECT value FROM json_each(:seqs))"
                    ),
                    {"now": now, "seqs": _json_ints(acked)},
                )
            for rej in rejected:
                conn.run(
                    text(
                        "INSERT OR REPLACE INTO sync_quarantine (event_id, seq, stream, kind, schema_version, "
                        "created_at, payload, quarantined_at, http_status, code, reason) "
                        "SELECT event_id, seq, stream, kind, schema_version, created_at, payload, :now, :status, "
                        ":code, :reason FROM outbox_event WHERE seq = :seq"
                    ),
                    {
                        "now": now,
                        "status": rej.http_status,
                        "code": rej.code[:64],
                        "reason": rej.reason[:500],
                        "seq": rej.seq,
                    },
                )
                conn.run(text("DELETE FROM outbox_event WHERE seq = :seq"), {"seq": rej.seq})

    def record_failure(self, seqs: Sequence[int], error: str, next_attempt: datetime) -> None:
        """Count the attempt on the rows that were in flight (shown on the dashboard)."""
        with self.store.write(
            durable=False, priority=BACKGROUND
        ) as conn:  # a lost mark means a resend; the cloud dedupes
            conn.run(
                text(
                    "UPDATE outbox_event SET attempts = attempts + 1, last_error = :err, next_attempt_at = :next "
                    "WHERE seq IN (SELECT value FROM json_each(:seqs))"
                ),
                {"err": error[:500], "next": sql_ts(next_attempt), "seqs": _json_ints(seqs)},
            )

    def backlog(self) -> Backlog:
        with self.store.read() as conn:
            count = conn.run(text("SELECT count(*) FROM outbox_event WHERE sent_at IS NULL")).scalar_one()
            oldest = conn.run(
                text("SELECT created_at FROM outbox_event WHERE sent_at IS NULL ORDER BY seq LIMIT 1")
            ).scalar()
        return Backlog(int(count), parse_ts(oldest))

    def backlog_by_stream(self) -> list[tuple[str, int, datetime | None]]:
        with self.store.read() as conn:
            rows = conn.run(
                text(
                    "SELECT stream, count(*), min(created_at) FROM outbox_event WHERE sent_at IS NULL "
                    "GROUP BY stream ORDER BY stream"
                )
            ).all()
        return [(r[0], int(r[1]), parse_ts(r[2])) for r in rows]

    def prune(self, retention: timedelta, chunk: int = 5000) -> int:
        """Delete sent rows older than the retention, in chunks so writers never wait long."""
        cutoff = sql_ts(utcnow() - retention)
        total = 0
        while True:
            with self.store.write(
                durable=False, priority=BACKGROUND
            ) as conn:  # a lost mark means a resend; the cloud dedupes
                n = conn.run(
                    text(
                        "DELETE FROM outbox_event WHERE seq IN (SELECT seq FROM outbox_event "
                        "WHERE sent_at IS NOT NULL AND sent_at < :cutoff LIMIT :n)"
                    ),
                    {"cutoff": cutoff, "n": chunk},
                ).rowcount
            total += n
            if n < chunk:
                return total


def _json_ints(values: Sequence[int]) -> str:
    return "[" + ",".join(str(int(v)) for v in values) + "]"
