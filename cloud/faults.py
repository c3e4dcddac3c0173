"""Fault injection for tests and benches: a receiver told to fail the way real clouds fail.

Only mounted when the receiver starts with --faults. State is per process (tests run one).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from starlette.types import ASGIApp, Receive, Scope, Send

Mode = Literal["ok", "error", "unavailable", "timeout", "slow", "drop", "hang_after_commit"]


@dataclass
class FaultConfig:
    mode: Mode = "ok"
    delay_s: float = 0.0  # slow: extra latency; timeout/hang_after_commit: how long to hang
    retry_after: int | None = None  # sent with error/unavailable
    remaining: int = -1  # requests the fault applies to, then back to ok (-1: until changed)
    reject_kinds: list[str] = field(default_factory=list)  # events of these kinds get a permanent 422
    paths: list[str] = field(default_factory=lambda: ["/v1/ingest/batches"])


@dataclass
class Stats:
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    committed_batches: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    faults_served: int = 0


class Faults:
    def __init__(self) -> None:
        self.config = FaultConfig()
        self.stats = Stats()
        self.lock = threading.Lock()

    def set(self, data: dict[str, Any]) -> FaultConfig:
        with self.lock:
            self.config = FaultConfig(**data)
            return self.config

    def take(self, path: str) -> FaultConfig | None:
        """The fault to apply to this request, if any (counts down `remaining`)."""
        with self.lock:
            cfg = self.config
            if cfg.mode == "ok" or not any(path.startswith(p) for p in cfg.paths):
                return None
            if cfg.remaining == 0:
                self.config = FaultConfig(reject_kinds=cfg.reject_kinds)
                return None
            if cfg.remaining > 0:
                cfg.remaining -= 1
            self.stats.faults_served += 1
            return FaultConfig(**asdict(cfg))

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"config": asdict(self.config), "stats": asdict(self.stats)}


class DropMiddleware:
    """Drops the connection mid-response ("drop"): headers and half a body, then a hard close."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            with self.faults.lock:
                dropping = self.faults.config.mode == "drop" and any(
                    scope["path"].startswith(p) for p in self.faults.config.paths
                )
            if dropping and self.faults.take(scope["path"]) is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
                    }
                )
                await send({"type": "http.response.body", "body": b'{"changes": [{"version"', "more_body": True})
                await asyncio.sleep(0.05)
                raise ConnectionAbortedError("fault injection: connection dropped")
        await self.app(scope, receive, send)
