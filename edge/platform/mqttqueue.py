"""Durable outbound MQTT queue: written in the same transaction as the state change.

paho keeps unacknowledged QoS 1 messages only in memory; anything that must reach a guide or a
gate goes through this table and is deleted only when the broker's PUBACK arrives. Domains
queue with `tx.mqtt(topic, payload)`; the relay (edge.mqtt) sends and deletes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from edge.platform.errors import InvalidInput
from edge.platform.ids import new_id
from edge.platform.timeutil import utcnow

if TYPE_CHECKING:
    from edge.platform.store import Tx


@dataclass(frozen=True)
class Committed:
    """A queued message whose transaction has committed (seq is its row id)."""

    seq: int
    topic: str
    payload: str
    qos: int
    retain: bool


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


def enqueue(tx: Tx, topic: str, payload: dict[str, Any], *, retain: bool = False, qos: int = 1) -> str:
    """Queue a message (use `tx.mqtt`); the payload gets an `event_id` so receivers can dedupe.

    A topic that can never be published is refused here, so the caller's whole transaction
    rolls back instead of committing a row no broker will ever take."""
    problem = topic_problem(topic)
    if problem is not None:
        raise InvalidInput(f"cannot queue an MQTT message: {problem}", code="mqtt_topic_invalid")
    event_id = str(payload.get("event_id") or new_id())
    text = json.dumps(dict(payload, event_id=event_id), separators=(",", ":"), ensure_ascii=False, default=str)
    # A Core insert (same transaction, no ORM flush): the row id is known at once, so the store
    # can hand the message to the relay right after the commit's fsync.
    result = tx.run(
        _INSERT,
        {"event_id": event_id, "topic": topic, "payload": text, "qos": qos, "retain": retain,
         "created_at": utcnow(), "attempts": 0},
    )  # fmt: skip
    tx.mqtt_rows.append(Committed(int(result.lastrowid), topic, text, qos, retain))
    return event_id
