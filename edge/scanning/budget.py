"""Decode time as a token bucket: what a hard scene, or the dearest pass, may cost per second.

One mechanism for the budgets of the scanning domain: each camera's fallback time (one thread,
on the frames' own clock), and the scanline reader's time on live frames as a fallback and as a
witness (each shared by every camera or phone that uses one strategy, so calls book a reserve up
front and threads arriving together cannot all pass on the same tokens).

Calls are charged their wall time, not their CPU time, on purpose: on a loaded box a call waits
for the interpreter lock and takes longer, so fewer are admitted, which sheds the optional work
exactly when the frames behind it would wait (measured with 50 phones: charged in CPU time, the
scanline passes ran about three times as often and the phones' frame p95 went from ~140 to 470 ms).
"""

from __future__ import annotations

import threading


class DecodeBudget:
    """`ms_per_s` milliseconds of decoding a second, at most one second's worth banked."""

    def __init__(self, ms_per_s: float, *, reserve_ms: float = 0.0) -> None:
        self.ms_per_s = ms_per_s
        self.reserve_ms = reserve_ms
        self._tokens = ms_per_s
        self._at: float | None = None  # the first call only starts the clock
        self._lock = threading.Lock()

    def allow(self, now: float) -> bool:
        """Whether a call may run now (`now` in seconds, any monotonic clock); books the reserve."""
        with self._lock:
            if self._at is not None:
                self._tokens = min(self.ms_per_s, self._tokens + (now - self._at) * self.ms_per_s)
            self._at = now
            if self._tokens <= 0 or self.ms_per_s <= 0:
                return False
            self._tokens -= self.reserve_ms
            return True

    def spend(self, ms: float) -> None:
        """What a call let in by `allow` took, settled against its reserve."""
        with self._lock:
            self._tokens -= ms - self.reserve_ms
