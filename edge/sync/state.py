"""Durable key/value state of sync (down-sync cursor, ETag, applied versions), JSON values."""

from __future__ import annotations

import json
from typing import Any

from edge.platform.store import Store, Tx
from edge.platform.timeutil import utcnow
from edge.sync.models import SyncState


def get(store: Store, key: str, default: Any = None) -> Any:
    with store.read() as s:
        row = s.get(SyncState, key)
        return json.loads(row.value) if row is not None else default


def put(session: Tx, key: str, value: Any) -> None:
    """Inside the caller's transaction, so state moves together with what it describes."""
    row = session.get(SyncState, key) or SyncState(key=key)
    row.value = json.dumps(value, default=str)
    row.updated_at = utcnow()
    session.add(row)


def get_all(store: Store, prefix: str) -> dict[str, Any]:
    from sqlmodel import col, select

    with store.read() as s:
        rows = s.exec(select(SyncState).where(col(SyncState.key).startswith(prefix))).all()
        return {r.key: json.loads(r.value) for r in rows}
