"""Fitting-room tables (visits, items, calls, inbound dedupe) and the API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from edge.platform.ids import new_id
from edge.platform.text import CodeStr, SafeText
from edge.platform.timeutil import utcnow

CallKind = Literal["help", "variant", "bring"]
CallState = Literal["open", "escalated", "claimed", "resolved", "cancelled"]
ACTIVE_STATES: tuple[str, ...] = ("open", "escalated", "claimed")
MAX_NOTE = 280


class FittingVisit(SQLModel, table=True):
    __tablename__ = "fitting_visit"
    __table_args__ = (
        Index("uq_fitting_visit_open_room", "room_id", unique=True, sqlite_where=text("ended_at IS NULL")),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    room_id: str = Field(max_length=32, index=True)
    started_at: datetime = Field(default_factory=utcnow)
    last_activity_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = Field(default=None, index=True)
    end_reason: str = Field(default="", max_length=32)


class FittingItem(SQLModel, table=True):
    __tablename__ = "fitting_item"
    __table_args__ = (UniqueConstraint("visit_id", "gtin", name="uq_fitting_item_visit_gtin"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    visit_id: str = Field(foreign_key="fitting_visit.id", max_length=36, index=True)
    gtin: str = Field(max_length=14)
    source: str = Field(default="scan", max_length=16)  # scan (room camera) | page (typed on the phone)
    added_at: datetime = Field(default_factory=utcnow)


class FittingCall(SQLModel, table=True):
    __tablename__ = "fitting_call"
    __table_args__ = (
        Index("ix_fitting_call_room_state", "room_id", "state"),
        UniqueConstraint("room_id", "request_id", name="uq_fitting_call_request"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    room_id: str = Field(max_length=32)
    zone: str = Field(max_length=32)
    visit_id: str = Field(foreign_key="fitting_visit.id", max_length=36, index=True)
    kind: str = Field(max_length=16)
    state: str = Field(default="open", max_length=16, index=True)
    gtin: str | None = Field(default=None, max_length=14)
    want_gtin: str | None = Field(default=None, max_length=14)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    merge_key: str = Field(max_length=128)
    phone_id: str = Field(default="", max_length=64)  # "ph:<id>" from the box's cookie, else "ip:<address>"
    client: str = Field(default="", max_length=64)  # the address it came from: limits per address
    request_id: str | None = Field(default=None, max_length=64)
    merged_count: int = Field(default=0)
    guide_id: str | None = Field(default=None, max_length=64, index=True)
    version: int = Field(default=1)
    opened_at: datetime = Field(default_factory=utcnow)
    escalated_at: datetime | None = Field(default=None)
    claimed_at: datetime | None = Field(default=None)
    resolved_at: datetime | None = Field(default=None)
    cancelled_at: datetime | None = Field(default=None)


class FittingInbound(SQLModel, table=True):
    """Inbound claim/resolve messages already applied, so a QoS 1 redelivery is a no-op."""

    __tablename__ = "fitting_inbound"

    event_id: str = Field(primary_key=True, max_length=64)
    source: str = Field(max_length=16)
    received_at: datetime = Field(default_factory=utcnow, index=True)


# --- API schemas ----------------------------------------------------------------------
class CallIn(BaseModel):
    """What the phone page posts to call a guide."""

    model_config = ConfigDict(extra="forbid")

    kind: CallKind = PField(description="help, variant (another size/colour) or bring (bring me this too).")
    gtin: CodeStr | None = PField(default=None, max_length=20, description="The item concerned (variant, bring).")
    want_gtin: CodeStr | None = PField(default=None, max_length=20, description="The wanted variant (variant calls).")
    note: SafeText = PField(default="", max_length=MAX_NOTE, description="Free text from the shopper (untrusted).")
    request_id: str | None = PField(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="Client-made id; a retried POST returns the same call.",
    )


class CallPublic(BaseModel):
    id: str
    room_id: str
    room_name: str
    zone: str
    kind: str
    state: str
    gtin: str | None
    want_gtin: str | None
    want: dict[str, str] | None = None  # size/colour/name of the wanted variant, when known
    item: dict[str, str] | None = None  # size/colour/name of the item the call is about, when known
    note: str
    guide_id: str | None
    version: int
    merged_count: int
    opened_at: datetime
    escalated_at: datetime | None
    claimed_at: datetime | None
    resolved_at: datetime | None
    cancelled_at: datetime | None


class CallCreated(BaseModel):
    call: CallPublic
    merged: bool = PField(description="True when this joined an identical active call instead of a new one.")


class GuideActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str | None = PField(
        default=None, pattern=r"^[A-Za-z0-9_-]{8,64}$", description="Idempotency key; a repeat is a no-op."
    )
    release: bool = PField(default=False, description="On resolve: also release the room (ends the visit).")


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: CodeStr = PField(min_length=1, max_length=64, description="A GTIN/EAN/UPC typed or scanned on the phone.")


class VariantPublic(BaseModel):
    gtin: str
    size: str
    colour: str
    stock: int
    in_stock: bool


class ItemPublic(BaseModel):
    gtin: str
    name: str
    style: str
    size: str
    colour: str
    price_minor: int
    currency: str
    source: str
    added_at: datetime
    variants: list[VariantPublic]


class RoomPublic(BaseModel):
    """Everything the phone page shows for its room."""

    room_id: str
    room_name: str
    zone: str
    visit_id: str | None
    items: list[ItemPublic]
    calls: list[CallPublic]
    catalog_available: bool


class GuideStats(BaseModel):
    guide_id: str
    claimed: int
    resolved: int
    claim_p50_s: float | None
    claim_avg_s: float | None
    resolve_p50_s: float | None
    resolve_avg_s: float | None


class RoomInfo(BaseModel):
    id: str
    name: str
    zone: str
    camera: str | None
    visit_id: str | None
    active_calls: int
