"""What other domains may ask of sync (the registry's `downsync` slot): to apply a kind of
version the cloud sends down. The owner of the data registers its own applier (checkout for the
catalog, prices and promotions; face-pay for member erasures); sync only fetches, verifies and
keeps the cursor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Applier = Callable[[int, list[Any]], None]  # (version, items) -> applied in one transaction, or raises


class VersionRefused(Exception):
    """A version that will never apply (bad rows): recorded, shown, and skipped."""


class NotReady(Exception):
    """The domain that applies this kind is not running: keep the cursor and try later."""


class DownSyncAppliers(Protocol):
    def register(self, kind: str, applier: Applier) -> None:
        """Apply versions of `kind` with `applier` (one transaction each; idempotent)."""


@dataclass(frozen=True)
class CouponUse:
    use_key: str  # unique per use chain-wide: a single-use coupon's id and serial
    coupon_id: str


@dataclass(frozen=True)
class Reservation:
    outcome: Literal["reserved", "used", "unreachable"]
    use_key: str | None = None  # the use found taken ("used")
    reason: str = ""  # why the authority was not reached ("unreachable")


class CouponAuthority(Protocol):
    """The chain's one authority on coupon uses (the cloud; the registry's `coupons` slot): a
    checkout reserves its single-use coupons here before asking for money. The reservation
    commits with the order's `order.paid` event and is freed by `order.voided`."""

    def reserve(self, holder: str, uses: list[CouponUse]) -> Reservation:
        """All or none, within the configured deadline; never raises."""

    def release(self, holder: str, use_keys: list[str]) -> None:
        """Best effort (a reservation lapses by itself); never raises."""

    def redeemed(self, holder: str, use_keys: list[str], order_id: str) -> None:
        """The uses are redeemed by this order: told in the background, at once (the order's event
        commits them too, later); never raises, never waits."""
