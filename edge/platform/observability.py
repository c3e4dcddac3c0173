"""Logging (JSON lines under systemd, readable text on a terminal), health types, sd_notify."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from typing import Any, Literal

from pydantic import BaseModel, Field

from edge.platform.timeutil import utcnow

Status = Literal["ok", "degraded", "down"]
_CONTROL = {c: f"\\x{c:02x}" for c in range(32) if c not in (9,)}
_CONTROL.update({127: "\\x7f", 0x2028: "\\u2028", 0x2029: "\\u2029"})


class ComponentHealth(BaseModel):
    """One line of /readyz."""

    status: Status = "ok"
    reason: str = ""
    required: bool = Field(default=False, description="A required component that is down makes /readyz 503.")
    details: dict[str, Any] = Field(default_factory=dict)


def escape_text(value: object, limit: int = 512) -> str:
    """Untrusted text (scanned codes, notes) made safe for one log line: no control chars, bounded."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + f"...(+{len(text) - limit} chars)"
    return text.translate(_CONTROL)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.msg = escape_text(record.getMessage(), limit=4096)
        record.args = None
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; json escapes control characters by itself."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": utcnow().isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage()[:4096],
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            out.update(extra)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=True, default=str)


def setup_logging(level: str = "INFO", fmt: str = "auto") -> None:
    use_json = fmt == "json" or (
        fmt == "auto"
        and (bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID")) or not sys.stderr.isatty())
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if use_json else TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def sd_notify(message: str) -> bool:
    """systemd's notify protocol; a no-op (False) when not run under systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(addr)
            sock.sendall(message.encode())
        return True
    except OSError:
        return False


def watchdog_interval_s() -> float | None:
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    try:
        return max(0.5, int(usec) / 1_000_000 / 2)
    except ValueError:
        return None
