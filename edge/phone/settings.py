"""Scan-and-go on the shopper's phone (docs/phone.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PhoneSettings(BaseModel):
    """Scan-and-go on the shopper's own phone."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Serve /go/{code}: the store QR code opens a cart on a phone.")
    entry_grace_h: int = Field(
        default=3, ge=0, le=12, description="Yesterday's entry code still opens a cart this many hours after midnight."
    )
    cookie_ttl_s: int = Field(
        default=8 * 3600, ge=600, le=86_400, description="How long a phone stays bound to its shopping session."
    )
    frames_per_s: float = Field(
        default=6.0, gt=0, le=60, description="Frames one phone may send a second (bursts of twice that)."
    )
    adds_per_minute: int = Field(
        default=90, ge=1, le=10_000, description="Items, codes and quantity changes one phone may send a minute."
    )
    entries_per_minute: int = Field(
        default=30, ge=1, le=10_000, description="New phone sessions one network address may open a minute."
    )
