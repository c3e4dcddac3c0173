"""The settings sections every domain may read: who this store is, the HTTP server, where state
lives, logging. Each domain's own section lives in its `settings.py`; edge/config.py assembles
the whole tree."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class HttpSettings(BaseModel):
    """The HTTP server (API, pages, metrics)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Address to listen on; 0.0.0.0 for the store LAN.")
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port.")
    public_url: str | None = Field(
        default=None, description="URL phones use to reach this box (printed in room QR codes)."
    )
    tls: bool = Field(
        default=False,
        description="Serve HTTPS with secrets/tls_cert.pem and secrets/tls_key.pem (a phone opens its camera "
        "for scan-and-go only on an https page); off behind a TLS-terminating proxy.",
    )


class StorageSettings(BaseModel):
    """Where the daemon keeps its state."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(
        default=Path("/var/lib/retail-edge"), description="SQLite database, secrets and backups live here."
    )
    backups_keep: int = Field(default=5, ge=0, le=100, description="Pre-migration backups to keep.")
    min_free_mb: int = Field(
        default=50,
        ge=0,
        description="Refuse to start with less free disk than this; /readyz reports the database degraded below it.",
    )
    busy_timeout_ms: int = Field(
        default=10_000,
        ge=100,
        le=120_000,
        description="How long a database statement waits for another process (a backup, the CLI) before "
        "the request is answered 503 database_busy.",
    )


class StoreSettings(BaseModel):
    """Who this store is."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        default="store-0001", pattern=r"^[A-Za-z0-9_-]{1,40}$", description="Store id, unique in the chain."
    )
    name: str = Field(default="Demo Store", description="Name shown on receipts and pages.")
    timezone: str = Field(default="UTC", description="IANA timezone for receipts and pages; storage is UTC.")
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$", description="ISO 4217 currency of all prices.")
    node: str = Field(default="edge-1", pattern=r"^[A-Za-z0-9_-]{1,40}$", description="This box's name in the store.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value


class LoggingSettings(BaseModel):
    """Log output."""

    model_config = ConfigDict(extra="forbid")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level.")
    format: Literal["auto", "json", "text"] = Field(
        default="auto", description="auto: JSON lines under systemd or when not a terminal, text on a terminal."
    )
