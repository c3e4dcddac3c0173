"""Durable outbound MQTT queue: written in the same transaction as the state change.

paho keeps unacknowledged QoS 1 messages only in memory; anything that must reach a guide or a
gate goes through this table and is deleted only when the broker's PUBACK arrives.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Text, event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel

from edge.db import after_durable, hold_write_lock, require_durable
from edge.errors import InvalidInput
from edge.ids import new_id
from edge.timeutil import utcnow

log = logging.getLogger(__name__)
_PENDING_KEY = "edge.mqtt.enqueued"
_FLUSHED_KEY = "edge.mqtt.flushed"


@dataclass(frozen=True)
class Committed:
    """A queued message whose transaction has committed (seq is its row id)."""

    seq: int
    topic: str
    payload: str
    qos: int
    retain: bool


CommitListener = Callable[[list[Committed]], None]
_commit_listeners: list[CommitListener] = []


class MqttQueued(SQLModel, table=True):
    __tablename__ = "mqtt_queue"

    seq: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(index=True, unique=True, max_length=36)
    topic: str = Field(max_length=255)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    qos: int = Field(default=1)
    retain: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)
    attempts: int = Field(default=0)


_INSERT = MqttQueued.__table__.insert()  # type: ignore[attr-defined]


def topic_problem(topic: str) -> str | None:
    """Why `topic` can never be published (paho raises on it), or None when it can."""
    if not topic or len(topic) > 255:
        return "topic is empty or longer than 255 characters"
    if "+" in topic or "#" in topic:
        return "topic contains an MQTT wildcard (+ or #)"
    if "\x00" in topic:
        return "topic contains a NUL character"
    try:
        topic.encode("utf-8")
    except UnicodeEncodeError:
        return "topic is not valid UTF-8"
    return None


def enqueue(session: Session, topic: str, payload: dict[str, Any], *, retain: bool = False, qos: int = 1) -> str:
    """Queue a message; the payload gets an `event_id` so receivers can dedupe.

    A topic that can never be published is refused here, so the caller's whole transaction
    rolls back instead of committing a row no broker will ever take."""
    problem = topic_problem(topic)
    if problem is not None:
        raise InvalidInput(f"cannot queue an MQTT message: {problem}", code="mqtt_topic_invalid")
    event_id = str(payload.get("event_id") or new_id())
    text = json.dumps(dict(payload, event_id=event_id), separators=(",", ":"), ensure_ascii=False, default=str)
    # Core insert on the session's connection (same transaction, no ORM flush): the row id is
    # known at once, so the commit listener can hand the message to the relay right after commit.
    hold_write_lock(session)
    require_durable(session)  # even in a durable=False session: the message leaves the box
    result = session.connection().execute(
        _INSERT,
        {"event_id": event_id, "topic": topic, "payload": text, "qos": qos, "retain": retain,
         "created_at": utcnow(), "attempts": 0},
    )  # fmt: skip
    seq = int(result.lastrowid)
    session.info.setdefault(_FLUSHED_KEY, []).append(Committed(seq, topic, text, qos, retain))
    session.info[_PENDING_KEY] = True
    return event_id


def add_commit_listener(callback: CommitListener) -> None:
    """Called (on the committing thread) with the messages of any transaction that enqueued,
    right after it commits.

    The relay publishes them at once from that thread instead of waiting for its own; its poll
    stays as the safety net (and covers messages written by other processes, e.g. the CLI)."""
    if callback not in _commit_listeners:
        _commit_listeners.append(callback)


def remove_commit_listener(callback: CommitListener) -> None:
    if callback in _commit_listeners:
        _commit_listeners.remove(callback)


@event.listens_for(OrmSession, "after_commit")
def _after_commit(session: OrmSession) -> None:
    if not session.info.pop(_PENDING_KEY, False):
        return
    rows: list[Committed] = sorted(session.info.pop(_FLUSHED_KEY, []), key=lambda r: r.seq)
    # Publish only once the commit is on disk: a guide must never get a call a power cut forgets.
    after_durable(session, lambda: _notify(rows))  # type: ignore[arg-type]


def _notify(rows: list[Committed]) -> None:
    for cb in list(_commit_listeners):
        try:
            cb(rows)
        except Exception:
            log.exception("mqtt queue commit listener failed")


@event.listens_for(OrmSession, "after_soft_rollback")
def _after_rollback(session: OrmSession, _previous: object) -> None:
    session.info.pop(_PENDING_KEY, None)
    session.info.pop(_FLUSHED_KEY, None)
