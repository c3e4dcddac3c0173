"""The transactional outbox: every domain writes its row in its own transaction.

Writing first and sending later (never the other way round) is what keeps a crash in flight
from losing an event. `seq` gives the order within a stream; `event_id` (UUIDv7) is unique
across stores and is the cloud's idempotency key.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Index, Text, text
from sqlmodel import Field, SQLModel

from edge.platform.ids import new_id
from edge.platform.timeutil import utcnow

if TYPE_CHECKING:
    from edge.platform.store import Tx

MAX_PAYLOAD_BYTES = 256 * 1024


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_event"
    __table_args__ = (
        Index("ix_outbox_unsent", "sent_at", "next_attempt_at", "seq"),
        Index("ix_outbox_stream_seq", "stream", "seq"),
        # The uploader pages through unsent rows by seq; a partial index keeps that cheap when
        # millions of sent rows wait for pruning (added by migration 0006_sync).
        Index("ix_outbox_pending", "seq", sqlite_where=text("sent_at IS NULL")),
        # A seq is never handed out twice, even after the newest row is quarantined or pruned
        # (migration 0006b): the cloud orders a stream by it.
        {"sqlite_autoincrement": True},
    )

    seq: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(index=True, unique=True, max_length=36)
    stream: str = Field(max_length=32)
    kind: str = Field(max_length=64)
    schema_version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    sent_at: datetime | None = Field(default=None)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=500)


_INSERT = OutboxEvent.__table__.insert()  # type: ignore[attr-defined]


def add(session: Tx, stream: str, kind: str, payload: dict[str, Any], schema_version: int = 1) -> str:
    """Queue one event for the cloud inside the caller's transaction; returns its event id."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
    if len(body.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"outbox payload for {stream}/{kind} exceeds {MAX_PAYLOAD_BYTES} bytes")
    event_id = new_id()
    # A Core insert on the session's own connection: same transaction, a fifth of the ORM's cost
    # (building and flushing a SQLModel object), and this runs inside every money and call write.
    session.run(
        _INSERT,
        {"event_id": event_id, "stream": stream, "kind": kind, "schema_version": schema_version,
         "created_at": utcnow(), "payload": body, "attempts": 0},
    )  # fmt: skip
    return event_id
