"""Fitting-room configuration (rooms, escalation per zone, visits, rate limits)."""

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RoomSettings(BaseModel):
    """One fitting room."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Room id, used in QR codes and MQTT topics.", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    name: str = Field(default="", description="Name shown to shoppers and guides.")
    zone: str = Field(
        default="main",
        description="Zone; escalation timing is set per zone.",
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
    )
    camera: str | None = Field(
        default=None,
        description="Id of the fitting-room camera (role fitting_room, target = this room), if any.",
    )


class FittingSettings(BaseModel):
    """Smart fitting rooms."""

    model_config = ConfigDict(extra="forbid")

    rooms: list[RoomSettings] = Field(default_factory=list, description="The store's fitting rooms.")
    guide_code_ttl_s: int = Field(
        default=12 * 3600, ge=300, le=7 * 86400,
        description="How long a guide's personal code (shown on the handheld) credits the guide once scanned.",
    )  # fmt: skip
    escalate_after_s: int = Field(default=90, ge=1, le=3600, description="Escalate a call unclaimed this long.")
    zone_escalate_after_s: dict[str, int] = Field(
        default_factory=dict, description="Per-zone override of escalate_after_s, e.g. {women = 60}."
    )
    visit_idle_timeout_s: int = Field(
        default=1800,
        ge=30,
        le=86400,
        description="End a visit with no activity and no active call this long.",
    )
    calls_per_phone_per_minute: int = Field(
        default=6, ge=1, le=100000, description="Calls one phone may place per room per minute."
    )
    calls_per_address_per_minute: int = Field(
        default=12,
        ge=1,
        le=100000,
        description="Calls one client address may place per minute, all its phones and rooms together.",
    )
    active_calls_per_phone: int = Field(
        default=3, ge=1, le=100000, description="Active calls one phone may have at once."
    )
    active_calls_per_address: int = Field(
        default=4,
        ge=1,
        le=100000,
        description="Active calls one client address may have at once: one device cannot fill a room's slots.",
    )
    active_calls_per_room: int = Field(
        default=8,
        ge=1,
        le=100000,
        description="Active (open, escalated, claimed) calls a room may have at once.",
    )
    items_per_visit: int = Field(default=40, ge=1, le=1000, description="Items a visit may hold.")
    claim_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Tries to apply a guide's MQTT claim when the database fails (e.g. locked); "
        "after the last the message is acknowledged anyway and audited as fitting.claim_failed.",
    )
    claim_retry_backoff_s: float = Field(
        default=0.2, gt=0, le=2, description="First wait between those tries; it doubles, up to 2 s."
    )

    @field_validator("rooms")
    @classmethod
    def _unique_room_ids(cls, rooms: list[RoomSettings]) -> list[RoomSettings]:
        seen: set[str] = set()
        for room in rooms:
            if room.id in seen:
                raise ValueError(f"room id {room.id!r} is used twice")
            seen.add(room.id)
        return rooms

    def escalation_s(self, zone: str) -> int:
        return self.zone_escalate_after_s.get(zone, self.escalate_after_s)
