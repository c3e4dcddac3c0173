"""Resource faults: what SQLite and the disk refuse, turned into typed errors and remembered.

A full disk, a database held by another process past the busy timeout, a damaged file and an
I/O error all reach the store as a bare `OperationalError`/`DatabaseError`; left alone they
become untyped 500s, and the shopper paying at a kiosk cannot tell whether money moved.
`classify` maps each SQLite result code to an `edge.platform.errors.ResourceFault` (a 503 with
a code), and `FaultLog` keeps the last one so /readyz can say the database is failing until a
write succeeds again.
"""

from __future__ import annotations

import errno
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.platform.errors import (
    DatabaseBusy,
    DatabaseCorrupt,
    DiskFull,
    DiskIOFailed,
    ResourceFault,
)
from edge.platform.schema import free_bytes
from edge.platform.timeutil import utcnow

# SQLite primary result codes (https://sqlite.org/rescode.html); extended codes keep them in the low byte.
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26
_BY_CODE: dict[int, type[ResourceFault]] = {
    _FULL: DiskFull,
    _BUSY: DatabaseBusy,
    _LOCKED: DatabaseBusy,
    _CORRUPT: DatabaseCorrupt,
    _NOTADB: DatabaseCorrupt,
    _IOERR: DiskIOFailed,
    _CANTOPEN: DiskIOFailed,
    _READONLY: DiskIOFailed,
}
# Errors raised without a result code (older drivers, hand-made in tests) still say what they are.
_BY_TEXT: list[tuple[str, type[ResourceFault]]] = [
    ("database or disk is full", DiskFull),
    ("database is locked", DatabaseBusy),
    ("database table is locked", DatabaseBusy),
    ("malformed", DatabaseCorrupt),
    ("file is not a database", DatabaseCorrupt),
    ("disk i/o error", DiskIOFailed),
    ("unable to open database", DiskIOFailed),
    ("readonly database", DiskIOFailed),
]
_SENTENCES: dict[type[ResourceFault], str] = {
    DiskFull: "the store box's disk is full, so nothing was saved. Store IT: free space on the data disk "
    "(see /readyz).",
    DatabaseBusy: "the store database is busy with another task, so nothing was saved. Try again in a moment.",
    DatabaseCorrupt: "the store database is damaged, so nothing was saved. Store IT: stop the daemon and "
    "restore the latest copy from the data dir's backups/ folder.",
    DiskIOFailed: "the store box could not read or write its disk, so nothing was saved. Store IT: check the "
    "data disk.",
}


def classify(exc: BaseException) -> ResourceFault | None:
    """The typed fault behind a database or OS error, or None when it is not a resource fault
    (a constraint, a bug): those keep their own type."""
    if isinstance(exc, ResourceFault):
        return exc
    orig = getattr(exc, "orig", None) or exc
    kind: type[ResourceFault] | None = None
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        if isinstance(code, int):
            kind = _BY_CODE.get(code & 0xFF)
        if kind is None:
            text = str(orig).lower()
            kind = next((k for marker, k in _BY_TEXT if marker in text), None)
    elif isinstance(orig, OSError):
        kind = {errno.ENOSPC: DiskFull, errno.EDQUOT: DiskFull, errno.EIO: DiskIOFailed}.get(orig.errno or 0)
    if kind is None:
        return None
    return kind(_SENTENCES[kind], details={"cause": str(orig)[:200]})


@dataclass(frozen=True)
class Fault:
    at: str  # ISO time
    code: str
    message: str


class FaultLog:
    """The last resource fault and whether a write has succeeded since: /readyz reads it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last: Fault | None = None
        self.failing = False  # the latest write attempt failed with a resource fault

    def failed(self, fault: ResourceFault) -> None:
        with self._lock:
            self.last = Fault(utcnow().isoformat(), fault.code, str(fault.details.get("cause", fault.message)))
            self.failing = True

    def succeeded(self) -> None:
        if self.failing:  # a plain read of a bool on the hot path; the lock only when it changes
            with self._lock:
                self.failing = False

    def snapshot(self, data_dir: Path) -> dict[str, Any]:
        """Free space of the data disk, the last fault and whether writes fail now."""
        try:
            free: int | None = free_bytes(data_dir)
        except OSError:
            free = None
        with self._lock:
            last = None if self.last is None else {"at": self.last.at, "code": self.last.code,
                                                    "message": self.last.message}  # fmt: skip
            return {"free_bytes": free, "writes_failing": self.failing, "last_write_failure": last}
