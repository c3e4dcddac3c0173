"""Cloud sync configuration. The store's auth token is a secret (`sync_token`), never here."""

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SyncSettings(BaseModel):
    """Upload of the outbox and down-sync of catalog, prices, promotions and member erasures."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None,
        description="Base URL of the retailer's cloud API (https://...). Unset: sync is off (degraded), "
        "events stay queued in the outbox.",
    )

    batch_size: int = Field(default=1000, ge=1, le=10000, description="Events per upload batch at most.")
    batch_max_bytes: int = Field(
        default=1024 * 1024,
        ge=64 * 1024,
        le=16 * 1024 * 1024,
        description="Upload batch body size at most (bytes); a single event larger than this is sent alone.",
    )
    connect_timeout_s: float = Field(default=5.0, gt=0, le=60, description="TCP/TLS connect timeout.")
    request_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Read timeout per request; a slower cloud counts as a failure.",
    )
    backoff_initial_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="First retry delay after a failed send (doubles each time, with jitter).",
    )
    backoff_max_s: float = Field(
        default=300.0,
        gt=0,
        le=3600,
        description="Longest delay between retries (and longest Retry-After honoured).",
    )
    idle_poll_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the uploader looks for new events when the backlog is empty.",
    )
    retention_days: float = Field(
        default=7.0, ge=0, le=365, description="Sent events are pruned from the outbox after this many days."
    )
    prune_interval_s: float = Field(default=600.0, gt=0, le=86400, description="How often sent events are pruned.")
    downsync_enabled: bool = Field(
        default=True, description="Pull catalog, prices, promotions and member erasures from the cloud."
    )
    downsync_interval_s: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="How often the cloud is asked for new catalog/price versions.",
    )
    downsync_stale_after_s: float = Field(
        default=86400.0,
        gt=0,
        description="Down-synced data older than this makes /readyz report sync degraded.",
    )
    ca_file: Path | None = Field(
        default=None, description="PEM bundle to trust for the cloud's TLS certificate (default: system CAs)."
    )
    coupon_reserve_timeout_s: float = Field(
        default=0.2, gt=0, le=5,
        description="How long a checkout waits for the cloud to reserve its single-use coupons before the "
        "coupon's offline policy decides (docs/checkout.md, chain-wide coupons).",
    )  # fmt: skip
    coupon_reserve_ttl_s: int = Field(
        default=300, ge=10, le=3600, description="A reservation a box never completes lapses after this long."
    )
    cloud_keys: bool = Field(
        default=True,
        description="Take the chain's keys (member and coupon codes) and this store's keys (exit passes, "
        "fitting-room doors, calls between the store's boxes) from the cloud, sealed to this box "
        "(docs/architecture.md, Keys). Off: every key is made on this box and verifies only here.",
    )
    keys_interval_s: float = Field(
        default=300.0, ge=1, le=86400, description="How often the box fetches its keys (rotations reach it then)."
    )
    degraded_backlog_age_s: float = Field(
        default=300.0, gt=0, description="An unsent event older than this makes /readyz report sync degraded."
    )

    @field_validator("url")
    @classmethod
    def _no_credentials_in_url(cls, url: str | None) -> str | None:
        """The store's cloud token is a secret: never in the TOML, where it is printed and committed."""
        if url is not None and "@" in urlsplit(url).netloc:
            raise ValueError(
                "sync.url must not carry credentials; put the store's token in "
                "<data_dir>/secrets/sync_token (0600) or RETAIL_EDGE_SECRET_SYNC_TOKEN"
            )
        return url

    @field_validator("url")
    @classmethod
    def _no_plain_http_off_the_box(cls, url: str | None) -> str | None:
        """The store token rides in every request: plain http is only for a cloud on this machine."""
        if url is not None and urlsplit(url).scheme.lower() == "http" and not _is_loopback(urlsplit(url).hostname):
            raise ValueError(
                "sync.url must use https:// (the store's token is sent with every request); "
                "plain http:// is allowed only to a loopback host such as 127.0.0.1 or localhost"
            )
        return url


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
