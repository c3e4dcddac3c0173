"""Sync tables beyond the outbox (quarantine, down-sync state) and the API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from edge.platform.timeutil import utcnow


class SyncQuarantine(SQLModel, table=True):
    """An event the cloud refused for good (a permanent 4xx): kept with the reason, out of the stream."""

    __tablename__ = "sync_quarantine"

    event_id: str = Field(primary_key=True, max_length=36)
    seq: int = Field(description="The outbox seq the event had, for its order within the stream.")
    stream: str = Field(max_length=32, index=True)
    kind: str = Field(max_length=64)
    schema_version: int = Field(default=1)
    created_at: datetime
    payload: str = Field(sa_column=Column(Text, nullable=False))
    quarantined_at: datetime = Field(default_factory=utcnow, index=True)
    http_status: int = Field(default=0)
    code: str = Field(default="", max_length=64)
    reason: str = Field(default="", max_length=500)


class SyncState(SQLModel, table=True):
    """Small durable key/value state: down-sync cursor and ETag, applied versions."""

    __tablename__ = "sync_state"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(default="", sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


# --- API schemas (never a table model from the API) -------------------------------------------


class QuarantinedEvent(BaseModel):
    event_id: str
    seq: int
    stream: str
    kind: str
    created_at: datetime
    quarantined_at: datetime
    http_status: int
    code: str
    reason: str


class QuarantinePage(BaseModel):
    total: int
    items: list[QuarantinedEvent]


class StreamBacklog(BaseModel):
    stream: str
    unsent: int
    oldest_unsent_at: datetime | None


class SyncStatus(BaseModel):
    """What the dashboard shows about sync."""

    enabled: bool
    cloud_url: str | None
    state: str
    reason: str
    backlog: int
    oldest_unsent_age_s: float | None
    streams: list[StreamBacklog]
    sent_total: int
    send_errors_total: int
    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    next_attempt_in_s: float | None
    quarantined: int
    downsync: dict[str, Any]
