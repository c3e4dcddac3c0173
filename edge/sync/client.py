"""The HTTP side of the uploader: one batch out, one classified outcome back.

Classification is what keeps the stream moving: an acknowledged event is marked sent, an
event the cloud refuses for good is quarantined, and everything else (network errors,
timeouts, 5xx, 429, a refused token) is retried later without touching the events.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from edge.sync.settings import SyncSettings
from edge.sync.store import Row, wire_ts

INGEST_PATH = "/v1/ingest/batches"
# 4xx statuses that say "try again later", not "this batch is wrong".
TRANSIENT_4XX = {401, 403, 404, 408, 409, 425, 429}


@dataclass
class Outcome:
    """What happened to one batch."""

    kind: str  # "acked" | "retry" | "bisect"
    acked: set[str] = field(default_factory=set)
    # event_id -> (code, reason, status): status is the cloud's per-event code, 422 when it gives none
    rejected: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    http_status: int = 0
    error: str = ""
    retry_after_s: float | None = None
    stored: int = 0
    duplicates: int = 0


def batch_key(rows: list[Row]) -> str:
    """Deterministic per batch content, so a resent batch carries the same Idempotency-Key."""
    h = hashlib.sha256()
    for r in rows:
        h.update(r.event_id.encode())
    return h.hexdigest()[:32]


def encode_batch(store_id: str, node: str, rows: list[Row]) -> bytes:
    """The batch body; stored payloads are already JSON and are spliced in without re-parsing."""
    head = json.dumps({"store_id": store_id, "node": node, "batch_id": batch_key(rows)})[:-1]
    parts = []
    for r in rows:
        meta = json.dumps(
            {
                "event_id": r.event_id,
                "stream": r.stream,
                "seq": r.seq,
                "kind": r.kind,
                "schema_version": r.schema_version,
                "created_at": wire_ts(r.created_at),
            },
            ensure_ascii=False,
        )
        parts.append(meta[:-1] + ',"payload":' + r.payload + "}")
    return (head + ',"events":[' + ",".join(parts) + "]}").encode()


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """RFC 9110 Retry-After: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class CloudClient:
    """A keep-alive HTTP client to the cloud ingest API."""

    def __init__(self, settings: SyncSettings, store_id: str, node: str) -> None:
        self.settings = settings
        self.store_id = store_id
        self.node = node
        verify: Any = str(settings.ca_file) if settings.ca_file else True
        self.http = httpx.Client(
            base_url=(settings.url or "").rstrip("/"),
            timeout=httpx.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s),
            verify=verify,
            headers={"User-Agent": "retail-edge-sync/1"},
        )

    def close(self) -> None:
        self.http.close()

    def encode(self, rows: list[Row]) -> bytes:
        return encode_batch(self.store_id, self.node, rows)

    def send(self, rows: list[Row], token: str, body: bytes | None = None) -> Outcome:
        """POST one batch; `body` may be pre-encoded (the uploader encodes the next batch early)."""
        body = body if body is not None else self.encode(rows)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": batch_key(rows),
            "X-Store-Id": self.store_id,
        }
        try:
            resp = self.http.post(INGEST_PATH, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return Outcome("retry", error=f"timeout talking to the cloud ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return Outcome("retry", error=f"cloud unreachable: {type(exc).__name__}: {exc}"[:300])
        return classify(resp, rows)


def _error_text(resp: httpx.Response) -> tuple[str, str]:
    try:
        data = resp.json()
        return str(data.get("code", "")), str(data.get("message", data.get("detail", "")))[:300]
    except (ValueError, AttributeError):
        return "", resp.text[:200]


def _event_status(item: dict[str, Any]) -> int:
    """The per-event status inside a 200: a 4xx the cloud names, else 422 (never the batch's 200)."""
    status = item.get("status")
    return status if isinstance(status, int) and 400 <= status < 500 else 422


def classify(resp: httpx.Response, rows: list[Row]) -> Outcome:
    status = resp.status_code
    retry_after = retry_after_seconds(resp.headers.get("retry-after"))
    if status == 200:
        try:
            data = resp.json()
            accepted = set(data.get("accepted", []))
            duplicates = set(data.get("duplicates", []))
            rejected = {
                str(r["event_id"]): (str(r.get("code", "rejected")), str(r.get("reason", "")), _event_status(r))
                for r in data.get("rejected", [])
            }
        except (ValueError, KeyError, TypeError, AttributeError):
            return Outcome("retry", http_status=status, error="cloud answered 200 with an unreadable body")
        ids = {r.event_id for r in rows}
        return Outcome(
            "acked",
            acked=(accepted | duplicates) & ids,
            rejected={k: v for k, v in rejected.items() if k in ids},
            http_status=status,
            stored=len(accepted & ids),
            duplicates=len(duplicates & ids),
        )
    code, message = _error_text(resp)
    error = f"cloud answered {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if status >= 500 or status in TRANSIENT_4XX:
        return Outcome("retry", http_status=status, error=error, retry_after_s=retry_after)
    if 400 <= status < 500:
        return Outcome(
            "bisect", http_status=status, error=error, rejected={"*": (code or f"http_{status}", message, status)}
        )
    return Outcome("retry", http_status=status, error=error, retry_after_s=retry_after)
