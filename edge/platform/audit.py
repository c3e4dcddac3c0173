"""The audit log: who did what, kept locally and synced on the `audit` stream."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from edge.platform import outbox
from edge.platform.ids import new_id
from edge.platform.timeutil import utcnow

if TYPE_CHECKING:
    from edge.platform.store import Tx


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    ts: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=80)
    action: str = Field(max_length=64, index=True)
    subject: str = Field(default="", max_length=120)
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))


_INSERT = AuditEvent.__table__.insert()  # type: ignore[attr-defined]


def record(session: Tx, actor: str, action: str, subject: str = "", **detail: Any) -> str:
    """Audit inside the caller's transaction (never a face image, never a secret).

    A Core insert like outbox.add: this runs inside nearly every write a shopper waits on."""
    row_id, actor, subject = new_id(), actor[:80], subject[:120]
    session.run(
        _INSERT,
        {"id": row_id, "ts": utcnow(), "actor": actor, "action": action[:64], "subject": subject,
         "detail": json.dumps(detail, default=str)},
    )  # fmt: skip
    outbox.add(session, "audit", action, {"id": row_id, "actor": actor, "subject": subject, "detail": detail})
    return row_id
