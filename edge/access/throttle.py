"""Login throttling that holds under concurrency and does not hand the admin's lock to a stranger.

Every attempt is counted as a failure the moment it starts, before argon2 runs, and forgiven if
the password was right: a hundred concurrent wrong passwords cannot all pass the check before
the first failure is recorded (44 of 100 did, when the failure was recorded after argon2).

Three sliding windows, all checked before argon2:
- per (username, client address): 5 failures, then that client waits out the window for that
  user. This is the one a guesser meets.
- per client address: 20 failures, whatever usernames it tries.
- per username, from every address together: 50 failures. It bounds how often argon2 runs for
  one account; locking the real admin out now takes ten addresses guessing, not five wrong
  tries from anywhere.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

WINDOW_S = 300.0
PER_PAIR, PER_CLIENT, PER_USER = 5, 20, 50
MAX_KEYS = 50_000  # bounded memory under a spray of names or addresses


@dataclass
class Attempt:
    """A login attempt in flight: counted as failed until `succeeded()`."""

    throttle: LoginThrottle
    keys: tuple[str, ...]
    mark: tuple[float, int]

    def succeeded(self) -> None:
        self.throttle._forgive(self)


class LoginThrottle:
    def __init__(
        self,
        per_pair: int = PER_PAIR,
        per_client: int = PER_CLIENT,
        per_user: int = PER_USER,
        window_s: float = WINDOW_S,
    ) -> None:
        self.window_s = window_s
        self._limits = {"pair": per_pair, "client": per_client, "user": per_user}
        self._marks: dict[str, list[tuple[float, int]]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def begin(self, username: str, client: str) -> Attempt | float:
        """An Attempt, or how many seconds this caller must wait before trying again."""
        keys = (f"pair\0{username}\0{client}", f"client\0{client}", f"user\0{username}")
        now = time.monotonic()
        with self._lock:
            wait = 0.0
            for key in keys:
                recent = [m for m in self._marks.get(key, []) if now - m[0] < self.window_s]
                self._marks[key] = recent
                if len(recent) >= self._limits[key.split("\0")[0]]:
                    wait = max(wait, self.window_s - (now - recent[0][0]))
            if wait > 0:
                return wait
            if len(self._marks) > MAX_KEYS:
                self._marks = {k: v for k, v in self._marks.items() if v}
                if len(self._marks) > MAX_KEYS:
                    self._marks.clear()
            mark = (now, next(self._ids))
            for key in keys:
                self._marks.setdefault(key, []).append(mark)
        return Attempt(self, keys, mark)

    def _forgive(self, attempt: Attempt) -> None:
        """A right password: this attempt was no failure, and the pair's earlier ones are forgotten."""
        with self._lock:
            for key in attempt.keys:
                marks = self._marks.get(key, [])
                if attempt.mark in marks:
                    marks.remove(attempt.mark)
            self._marks.pop(attempt.keys[0], None)
