"""MQTT configuration."""

from pydantic import BaseModel, ConfigDict, Field


class MqttSettings(BaseModel):
    """The store broker connection. The password comes from secrets, never from here."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(default="mqtt://127.0.0.1:1883", description="Broker URL, mqtt:// or mqtts://.")
    username: str | None = Field(default=None, description="Broker username for the edge role.")
    client_id: str | None = Field(
        default=None, description="Stable client id; defaults to retail-edge-<store id>-<node>."
    )
    session_expiry_s: int = Field(
        default=7 * 24 * 3600, ge=0, description="MQTT v5 session expiry, so the broker keeps our session."
    )
    keepalive_s: int = Field(default=15, ge=5, le=600, description="Keepalive; the Last Will fires after ~1.5x.")
    relay_window: int = Field(
        default=500,
        ge=1,
        le=5000,
        description="Queued messages published and awaiting PUBACK at most at once.",
    )
    relay_poll_s: float = Field(
        default=0.5, gt=0, le=30, description="How often the relay looks for rows written by other processes."
    )
    resend_after_s: float = Field(
        default=15.0,
        ge=1,
        le=3600,
        description="Republish a queued message when its PUBACK has not come this long.",
    )
