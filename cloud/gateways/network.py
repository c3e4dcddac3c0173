"""The network between the box and a simulated gateway: requests can be held on their way in
(before the gateway acts on them) and then let through or lost, to put a crash of the box at the
moment a pay request is still travelling."""

from __future__ import annotations

import threading


class Network:
    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping
        self._open = threading.Event()
        self._open.set()
        self._dropping = False
        self._lock = threading.Lock()
        self._held = 0

    def pause(self) -> None:
        """Hold every gateway request on the way in, before the gateway acts on it."""
        self._dropping = False
        self._open.clear()

    def resume(self, drop: bool = False) -> None:
        """Let held requests through; `drop`: they were lost on the way and never reach the gateway."""
        self._dropping = drop
        self._open.set()

    def held(self) -> int:
        """How many requests pause() is holding right now."""
        with self._lock:
            return self._held

    def wait_open(self) -> bool:
        """False when a held request is lost on the way (or the simulator stops): answer an error."""
        if self._open.is_set():
            return True
        with self._lock:
            self._held += 1
        try:
            while not self._open.wait(0.05):
                if self._stopping.is_set():
                    return False
            return not self._dropping
        finally:
            with self._lock:
                self._held -= 1
