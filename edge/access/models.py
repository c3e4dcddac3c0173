"""Store-IT users (argon2 passwords) and devices (per-device tokens, stored hashed)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from edge.platform.text import OpaqueStr, SafeStr
from edge.platform.timeutil import utcnow

DeviceRole = Literal["kiosk", "guide", "gate", "manager"]
DEVICE_ROLES: tuple[str, ...] = ("kiosk", "guide", "gate", "manager")


class UserAccount(SQLModel, table=True):
    __tablename__ = "user_account"

    username: str = Field(primary_key=True, max_length=64)
    password_hash: str = Field(max_length=255)
    role: str = Field(default="it", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    disabled: bool = Field(default=False)
    # Bumped by logout and by disabling the user: every session token of an older epoch stops working.
    session_epoch: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Device(SQLModel, table=True):
    __tablename__ = "device"

    id: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16, index=True)
    name: str = Field(default="", max_length=120)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    mqtt_hash: str = Field(default="", max_length=160)  # its broker password (the token): Mosquitto's hash
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = Field(default=None)
    last_seen_at: datetime | None = Field(default=None)


class LoginIn(BaseModel):
    username: SafeStr = Field(max_length=64)
    password: OpaqueStr = Field(max_length=1024)  # hashed, never stored, logged or shown


class LoginOut(BaseModel):
    token: str
    username: str
    expires_in_s: int


class DevicePublic(BaseModel):
    id: str
    role: str
    name: str
    created_at: datetime
    revoked: bool
    last_seen_at: datetime | None
