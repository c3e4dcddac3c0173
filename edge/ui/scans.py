"""The last codes each camera read, in memory, so store IT can see what a camera is seeing.

Scanned text is untrusted: it is kept as plain text (capped) and the dashboard renders it with
textContent. Nothing here is written to disk.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from edge.platform.redact import redact_credential

MAX_TEXT = 256


class RecentScans:
    def __init__(self, size: int = 50) -> None:
        self._rows: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, event: Any) -> None:
        """A ScanEvent from the bus (duck-typed so the UI does not import scanning internals)."""
        text = redact_credential(str(getattr(event, "text", "")))  # never a usable pass or wallet code
        row = {
            "ts": event.ts.isoformat(),
            "camera_id": event.camera_id,
            "role": event.role,
            "target": event.target,
            "symbology": event.symbology,
            "text": text[:MAX_TEXT],
            "truncated": len(text) > MAX_TEXT,
            "gtin": event.gtin,
        }
        with self._lock:
            self._rows.append(row)

    def recent(self, camera_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            rows = list(self._rows)
        return [r for r in reversed(rows) if camera_id is None or r["camera_id"] == camera_id]
