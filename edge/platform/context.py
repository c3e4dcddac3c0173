"""What the composition root hands every domain, and the shape each domain takes in it.

Domains find each other's services in a typed registry, one slot per contract Protocol (the
owner fills its slot when it is built; others read it when they start or on each call), never
by importing each other's internals. A domain keeps its own services with `ctx.keep(obj)` and
its routers find them with `ctx.own(Type)`: typed, keyed by class, not by a string.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from edge.bus import Bus
from edge.platform.errors import Unavailable
from edge.platform.identity import Authenticator
from edge.platform.observability import ComponentHealth
from edge.platform.security import SecretStore
from edge.platform.store import Store

if TYPE_CHECKING:  # types only: the platform never imports a domain at run time
    from fastapi import APIRouter

    from edge.cameras.contract import FrameSource
    from edge.checkout.contract import CartMembers, CatalogReader, SalesLedger, ShopperCarts
    from edge.config import Settings
    from edge.facepay.contract import FaceAdmin, FacePayer
    from edge.fitting.contract import TryOns
    from edge.mqtt.contract import Messaging
    from edge.scanning.contract import CodeReader, FrameReader, ScanStats
    from edge.sync.contract import CouponAuthority, DownSyncAppliers

T = TypeVar("T")


@dataclass
class Registry:
    """One typed slot per contract (see each domain's contract.py). None: not on this box."""

    access: Authenticator | None = None
    cameras: FrameSource | None = None
    scanning: ScanStats | None = None
    codes: CodeReader | None = None
    frames: FrameReader | None = None
    catalog: CatalogReader | None = None
    carts: CartMembers | None = None
    shopping: ShopperCarts | None = None
    sales: SalesLedger | None = None
    facepay: FacePayer | None = None
    faces: FaceAdmin | None = None
    messaging: Messaging | None = None
    downsync: DownSyncAppliers | None = None
    coupons: CouponAuthority | None = None
    tryons: TryOns | None = None


def need(service: T | None, what: str) -> T:
    """The service, or a typed 503 saying which part of the box is missing."""
    if service is None:
        code = what.replace(" ", "_").replace("-", "") + "_unavailable"  # face-pay -> facepay_unavailable
        raise Unavailable(f"{what} is not available on this box", code=code)
    return service


@dataclass
class Context:
    """Settings, storage, bus, secrets and the registry: everything a domain is built from."""

    settings: Settings
    store: Store
    bus: Bus
    secrets: SecretStore
    services: Registry = field(default_factory=Registry)
    loop: asyncio.AbstractEventLoop | None = None
    _own: dict[type, Any] = field(default_factory=dict)
    _before_metrics: list[Callable[[], None]] = field(default_factory=list)

    def keep(self, service: T) -> T:
        """Keep a domain's own service object for its routers (`own(type(service))`)."""
        self._own[type(service)] = service
        return service

    def before_metrics(self, hook: Callable[[], None]) -> None:
        """Run `hook` before every read of the metrics (a child process's counters copied in)."""
        self._before_metrics.append(hook)

    def refresh_metrics(self) -> None:
        """Called by every reader of the metrics registry: /metrics and the dashboard's sampler."""
        for hook in self._before_metrics:
            try:
                hook()
            except Exception:
                logging.getLogger(__name__).exception("a metrics hook failed; its figures may be stale")

    def own(self, cls: type[T]) -> T:
        try:
            found: T = self._own[cls]
        except KeyError:
            raise Unavailable(f"{cls.__name__} is not running on this box", code="service_unavailable") from None
        return found


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
