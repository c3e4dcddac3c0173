"""Who is calling: a store-IT user or a device. The access domain proves it; everyone reads it."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

# Devices that carry the staff handheld page: they hear the task queue and the fitting-room calls.
HANDHELD_ROLES: tuple[str, ...] = ("guide", "supervisor", "manager")


class Principal(BaseModel):
    """A logged-in store-IT user or a device with a token (kiosk, guide, supervisor, manager, gate)."""

    kind: Literal["user", "device"]
    id: str
    role: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def leads_floor(self) -> bool:
        """May answer a task or call a colleague claimed (and walked away from): a supervisor's or
        manager's handheld, or store IT."""
        return self.kind == "user" or self.role in ("supervisor", "manager")


class Authenticator(Protocol):
    """What the HTTP layer asks of the access domain (edge.access implements it)."""

    def cached_device(self, token: str) -> Principal | None:
        """A device token seen in the last moments, answered from memory (no database read)."""

    def authenticate(self, token: str) -> Principal:
        """The principal behind a session or device token; raises Unauthorized."""
