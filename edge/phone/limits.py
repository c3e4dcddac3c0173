"""Per-phone and per-address rate limits (in memory: a restart forgives, which is fine).

A token bucket per key: `rate` a second with bursts of `burst`. A phone's page sends a few frames
a second; a script sending a thousand scans a minute meets 429 with the seconds to wait.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from prometheus_client import Counter

from edge.platform.errors import RateLimited

LIMITED = Counter("edge_phone_rate_limited_total", "Phone requests refused by a rate limit", ["limit"])
MAX_KEYS = 20_000


class Buckets:
    def __init__(self, name: str, rate_per_s: float, burst: float, message: str) -> None:
        self.name = name
        self.rate = rate_per_s
        self.burst = burst
        self.message = message
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one token of `key`; RateLimited (429, `retry_after_s`) when there is none."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._state.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens < 1:
                self._state[key] = (tokens, now)
                wait = round((1 - tokens) / self.rate, 1)
                LIMITED.labels(self.name).inc()
                raise RateLimited(self.message, code=f"too_many_{self.name}", details={"retry_after_s": wait})
            self._state[key] = (tokens - 1, now)
            while len(self._state) > MAX_KEYS:
                self._state.popitem(last=False)
