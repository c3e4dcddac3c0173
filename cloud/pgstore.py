"""PostgreSQL side of the reference receiver: schema, a small connection pool, batch insert, versions.

`edge_event` is the table a chain's analytics reads: one row per event id, whatever the number
of resends. `edge_event_effect` is a running count per (store, stream, kind) updated only for
rows this batch actually inserted, so a duplicate can never be counted (applied) twice.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from cloud import coupons, keys, members

SCHEMA = """
CREATE TABLE IF NOT EXISTS edge_event (
    event_id uuid PRIMARY KEY,
    store_id text NOT NULL,
    stream text NOT NULL,
    seq bigint NOT NULL,
    kind text NOT NULL,
    schema_version int NOT NULL,
    created_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    ingest_id bigint GENERATED ALWAYS AS IDENTITY,
    payload jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS edge_event_stream_order ON edge_event (store_id, stream, seq);
CREATE INDEX IF NOT EXISTS edge_event_created ON edge_event (created_at);
CREATE TABLE IF NOT EXISTS edge_event_effect (
    store_id text NOT NULL,
    stream text NOT NULL,
    kind text NOT NULL,
    events bigint NOT NULL,
    PRIMARY KEY (store_id, stream, kind)
);
CREATE TABLE IF NOT EXISTS downsync_version (
    version bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id text,
    kind text NOT NULL,
    items jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""

INSERT_BATCH = """
INSERT INTO edge_event (event_id, store_id, stream, seq, kind, schema_version, created_at, payload)
SELECT e, %(store)s, s, q, k, v, c, p
FROM unnest(%(ids)s::uuid[], %(streams)s::text[], %(seqs)s::bigint[], %(kinds)s::text[],
            %(versions)s::int[], %(created)s::timestamptz[], %(payloads)s::jsonb[])
     WITH ORDINALITY AS t(e, s, q, k, v, c, p, ord)
ORDER BY ord
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id::text, stream, kind
"""

APPLY_EFFECT = """
INSERT INTO edge_event_effect (store_id, stream, kind, events)
SELECT %(store)s, s, k, count(*) FROM unnest(%(streams)s::text[], %(kinds)s::text[]) AS t(s, k) GROUP BY s, k
ON CONFLICT (store_id, stream, kind) DO UPDATE SET events = edge_event_effect.events + EXCLUDED.events
"""


@dataclass(frozen=True)
class Event:
    event_id: str
    stream: str
    seq: int
    kind: str
    schema_version: int
    created_at: datetime
    payload_json: str


class Pool:
    """A few reusable connections; the receiver itself keeps no other state (scale out freely)."""

    def __init__(self, dsn: str, size: int = 8) -> None:
        self.dsn = dsn
        self.size = size
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._made = 0
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(size)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        self._slots.acquire()
        conn: psycopg.Connection[Any] | None = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = psycopg.connect(self.dsn, connect_timeout=5)
            if conn.closed:
                conn = psycopg.connect(self.dsn, connect_timeout=5)
            yield conn
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            self._idle.put(conn)
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        finally:
            self._slots.release()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def create_schema(pool: Pool) -> None:
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(7007)")  # several receivers may start at once
        conn.execute(SCHEMA)
        conn.execute(coupons.SCHEMA)
        conn.execute(keys.SCHEMA)
        conn.execute(members.SCHEMA)


def store_batch(pool: Pool, store_id: str, events: list[Event]) -> set[str]:
    """Insert a batch in one transaction; returns the ids that were new. Commit happens before return."""
    if not events:
        return set()
    params = {
        "store": store_id,
        "ids": [e.event_id for e in events],
        "streams": [e.stream for e in events],
        "seqs": [e.seq for e in events],
        "kinds": [e.kind for e in events],
        "versions": [e.schema_version for e in events],
        "created": [e.created_at for e in events],
        "payloads": [e.payload_json for e in events],
    }
    with pool.connection() as conn, conn.transaction():
        rows = conn.execute(INSERT_BATCH, params).fetchall()
        if rows:
            conn.execute(
                APPLY_EFFECT,
                {"store": store_id, "streams": [r[1] for r in rows], "kinds": [r[2] for r in rows]},
            )
            new = {r[0] for r in rows}
            fresh = [(e.kind, e.payload_json) for e in events if e.event_id in new]
            coupons.apply_events(conn, store_id, fresh)
            members.apply_events(conn, store_id, fresh)
    return {r[0] for r in rows}


def items_digest(items: Any) -> str:
    """sha256 of the canonical JSON of a version's items; the edge checks it before applying."""
    canon = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()


def publish_version(pool: Pool, kind: str, items: list[Any], store_id: str | None) -> int:
    with pool.connection() as conn, conn.transaction():
        return members.publish(conn, store_id, kind, items)


def changes_after(pool: Pool, store_id: str, after: int, limit: int) -> tuple[list[dict[str, Any]], int, bool, int]:
    """Versions for this store (or chain-wide) after a cursor: (changes, cursor, more, latest version)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT version, kind, items, created_at FROM downsync_version "
            "WHERE version > %s AND (store_id IS NULL OR store_id = %s) ORDER BY version LIMIT %s",
            (after, store_id, limit + 1),
        ).fetchall()
        latest = conn.execute(
            "SELECT coalesce(max(version), 0) FROM downsync_version WHERE store_id IS NULL OR store_id = %s",
            (store_id,),
        ).fetchone()
    more = len(rows) > limit
    changes = [
        {
            "version": int(r[0]),
            "kind": r[1],
            "items": r[2],
            "sha256": items_digest(r[2]),
            "created_at": r[3].isoformat(),
        }
        for r in rows[:limit]
    ]
    cursor = changes[-1]["version"] if changes else after
    return changes, cursor, more, int(latest[0]) if latest else 0
