"""The shape every domain takes in the composition root, and the shared context it gets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edge.bus import Bus
from edge.config import Settings
from edge.platform.observability import ComponentHealth
from edge.platform.security import SecretStore
from edge.platform.store import Store

if TYPE_CHECKING:
    from fastapi import APIRouter


@dataclass
class Context:
    """What the composition root hands every domain: settings, storage, bus, secrets, services.

    Domains find each other's services by name (`provide` / `require`) through small
    protocols in each domain's contract module, never by importing each other's internals.
    """

    settings: Settings
    store: Store
    bus: Bus
    secrets: SecretStore
    services: dict[str, Any] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop | None = None

    def provide(self, name: str, service: Any) -> None:
        self.services[name] = service

    def require(self, name: str) -> Any:
        try:
            return self.services[name]
        except KeyError:
            raise LookupError(f"service {name!r} is not available (is its component built?)") from None

    def optional(self, name: str) -> Any | None:
        return self.services.get(name)


class Component:
    """A domain's lifecycle: built (sync), started and stopped in order on the loop."""

    name = "component"

    async def start(self) -> None:
        """Must not block on the network: a missing broker or camera is retried in the background."""

    async def stop(self) -> None:
        """Release threads, sockets and files; must finish within a few seconds."""

    def health(self) -> dict[str, ComponentHealth]:
        """Named /readyz entries this component reports (a component may report none)."""
        return {}

    def routers(self) -> list[APIRouter]:
        return []
