"""UTC, tz-aware timestamps everywhere; the store's zone only when showing them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC)


def store_today(timezone: str, now: datetime | None = None) -> date:
    """The date on the store's calendar: a use-by date ends at the store's midnight, not UTC's."""
    return (now or utcnow()).astimezone(ZoneInfo(timezone)).date()


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
