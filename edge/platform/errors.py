"""Typed domain errors. Services raise these; the API maps them to a 4xx with a code.

Services never import FastAPI, so the HTTP status lives here as plain data.
"""

from __future__ import annotations

from typing import Any


class EdgeError(Exception):
    """An error a user or device can act on: a machine-readable code and a sentence."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(EdgeError):
    status = 400
    code = "invalid_input"


class Unauthorized(EdgeError):
    status = 401
    code = "unauthorized"


class Forbidden(EdgeError):
    status = 403
    code = "forbidden"


class NotFound(EdgeError):
    status = 404
    code = "not_found"


class Conflict(EdgeError):
    status = 409
    code = "conflict"


class Gone(EdgeError):
    status = 410
    code = "gone"


class Unprocessable(EdgeError):
    status = 422
    code = "unprocessable"


class RateLimited(EdgeError):
    status = 429
    code = "rate_limited"


class Unavailable(EdgeError):
    status = 503
    code = "unavailable"


class ResourceFault(Unavailable):
    """The box could not do what was asked for a reason of its own (a full disk, a busy or damaged
    database, a failing disk): nothing of the request was written. Always a 503 with a code a
    dashboard can count; payment paths add whether money moved (details.charged / refunded)."""

    code = "resource_fault"


class DiskFull(ResourceFault):
    code = "disk_full"


class DatabaseBusy(ResourceFault):
    """Another process (a backup, a CLI) held the database longer than the busy timeout."""

    code = "database_busy"


class DatabaseCorrupt(ResourceFault):
    code = "database_corrupt"


class DiskIOFailed(ResourceFault):
    code = "disk_io_error"


class DiskFailed(ResourceFault):
    """The disk refused to fsync the database's WAL. Linux may drop the failed pages and report
    success to the next fsync, so nothing written since can be trusted to be on disk: the box
    refuses durable writes from then on (readiness reports it) until it is restarted and SQLite
    recovers from what the disk really holds (PostgreSQL's rule after "fsyncgate")."""

    code = "disk_failed"


class StartupRefused(Exception):
    """The daemon cannot start safely (unwritable data dir, full disk, newer schema)."""
