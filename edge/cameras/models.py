"""API schemas of the cameras domain (no tables: camera state lives in memory)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CameraPublic(BaseModel):
    """One camera as store IT sees it on the dashboard."""

    id: str
    role: str
    target: str | None
    kind: str = Field(description="v4l2, stream, file or folder")
    enabled: bool
    status: str = Field(description="online, stalled, offline or disabled")
    fps: float
    last_frame_age_s: float | None
    stalls: int
    reconnects: int
    error: str = Field(description="The last capture error (untrusted text: escape when shown).")
    decode: dict[str, Any] = Field(default_factory=dict, description="Decode counts and timings from scanning.")
