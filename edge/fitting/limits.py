"""What a room, a phone and a client address may ask of the guides: active calls at once, and
calls a minute. Abuse of the door code (rotating phone ids, create/cancel loops) meets the
per-address limits; docs/fitting.md explains each."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from prometheus_client import Counter

from edge.fitting.phones import Phone
from edge.fitting.settings import FittingSettings, RoomSettings
from edge.platform.errors import RateLimited

CALLS_LIMITED = Counter("edge_fitting_calls_rate_limited_total", "Calls refused by a rate limit", ["reason"])


class _RateLimiter:
    """Sliding one-minute window per key; in memory (a restart forgives, which is fine)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: tuple[str, str]) -> float | None:
        """None when allowed; else seconds until the next call is allowed."""
        now = time.monotonic()
        with self._lock:
            q = self._hits[key]
            while q and now - q[0] > 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return 60 - (now - q[0])
            q.append(now)
            if len(self._hits) > 10_000:  # forget idle phones
                for k in [k for k, v in self._hits.items() if not v]:
                    del self._hits[k]
            return None


class CallLimits:
    def __init__(self, settings: FittingSettings) -> None:
        self.settings = settings
        self._per_phone = _RateLimiter(settings.calls_per_phone_per_minute)
        self._per_address = _RateLimiter(settings.calls_per_address_per_minute)

    def check(self, room: RoomSettings, phone: Phone, in_room: int, mine: tuple[int, int]) -> None:
        """Every limit a new call meets: per room, per phone and per address (active and per minute)."""
        cfg = self.settings
        if in_room >= cfg.active_calls_per_room:
            CALLS_LIMITED.labels("room_busy").inc()
            raise RateLimited("this room already has several calls waiting; a guide is coming", code="room_busy")
        if mine[0] >= cfg.active_calls_per_phone or mine[1] >= cfg.active_calls_per_address:
            CALLS_LIMITED.labels("open_calls").inc()
            raise RateLimited(
                "you already have calls waiting; a guide is coming (cancel one to ask for something else)",
                code="too_many_open_calls",
            )
        for key, limiter, who in (
            ((room.id, phone.id), self._per_phone, "phone"),
            (("", phone.address), self._per_address, "address"),
        ):
            wait = limiter.hit(key)
            if wait is not None:
                CALLS_LIMITED.labels(who).inc()
                raise RateLimited(
                    "too many calls from this phone; please wait a moment",
                    code="too_many_calls",
                    details={"retry_after_s": round(wait, 1)},
                )
