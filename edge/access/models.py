"""Store-IT users (argon2 passwords) and devices (per-device tokens, stored hashed)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic import Field as PField
from sqlmodel import Field, SQLModel

from edge.platform.text import OpaqueStr, SafeStr
from edge.platform.timeutil import utcnow

DeviceRole = Literal["kiosk", "guide", "supervisor", "gate", "manager"]
DEVICE_ROLES: tuple[str, ...] = ("kiosk", "guide", "supervisor", "gate", "manager")
# A store-IT login's role. Only "it" exists: every login may do everything the dashboard offers
# (edge.platform.web.require_staff checks that the caller is a user, not which role).
UserRole = Literal["it"]
NAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"  # user names and device ids (AccessService checks it too)


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


# --- the dashboard's staff actions (POST/DELETE /api/admin/...): each carries why, for the audit ---
def _given(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("give a reason: it is kept in the audit log with who acted")
    return value


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[SafeStr, AfterValidator(_given)] = PField(
        min_length=1, max_length=200, description="Why: kept in the audit log with who acted."
    )


class DeviceIn(_Action):
    id: str = PField(pattern=NAME_PATTERN, description="The device id, e.g. kiosk-2 (letters, digits, . _ @ -).")
    role: DeviceRole
    name: SafeStr = PField(default="", max_length=120, description="A name people recognise.")


class DeviceToken(BaseModel):
    """A new device and its token: the only time the token is ever shown (only a hash is kept)."""

    device: DevicePublic
    token: str


class RevokeIn(_Action):
    pass


class UserIn(_Action):
    username: str = PField(pattern=NAME_PATTERN, description="Login name (letters, digits, . _ @ -).")
    password: OpaqueStr = PField(min_length=1, max_length=1024)  # hashed, never stored, logged or shown
    # one role today: a lone Literal is a JSON-schema `const`; say `enum` too, as for any choice
    role: UserRole = PField(default="it", json_schema_extra={"enum": list(get_args(UserRole))})


class UserPublic(BaseModel):
    username: str
    role: str
    disabled: bool
    created_at: datetime


class DisableIn(_Action):
    pass
