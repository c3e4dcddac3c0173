"""Camera configuration: one entry per physical or virtual camera."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CameraRole = Literal["kiosk", "fitting_room", "exit_gate", "face"]


class CameraSettings(BaseModel):
    """One camera. Its role decides who consumes what it sees."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        description="Unique camera id, used in URLs, metrics and events.", pattern=r"^[A-Za-z0-9_.-]{1,64}$"
    )
    source: str = Field(
        description=("V4L2 index or /dev/videoN, rtsp:// or http(s):// URL, a video file (looped) or an image folder.")
    )
    role: CameraRole = Field(description="kiosk, fitting_room, exit_gate or face.")
    target: str | None = Field(
        default=None,
        description="What the camera is bound to: the kiosk id, fitting-room id or gate id it serves.",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",  # an exit-gate target becomes an MQTT topic level
    )
    fps: float = Field(default=15.0, gt=0, le=60, description="Frames per second to process at most.")
    replay: Literal["loop", "per_session"] = Field(
        default="loop",
        description="A video file: loop it, or (the demo's shopper at a kiosk) play it once each time a kiosk "
        "session opens at `target`, showing its first frame in between.",
    )
    enabled: bool = Field(default=True, description="Set false to keep the entry but not open the camera.")
    roi: tuple[int, int, int, int] | None = Field(
        default=None,
        description="Optional region of interest x, y, width, height in pixels; only it is decoded.",
    )
    stall_after_s: float = Field(
        default=3.0,
        gt=0,
        le=120,
        description="No frame for this long: the camera is stalled and is reopened.",
    )
    reconnect_min_s: float = Field(default=0.5, gt=0, le=60, description="First reconnect delay; doubles per failure.")
    reconnect_max_s: float = Field(default=30.0, gt=0, le=600, description="Longest delay between reconnect attempts.")
