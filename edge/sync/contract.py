"""What other domains may ask of sync (the registry's `downsync` slot): to apply a kind of
version the cloud sends down. The owner of the data registers its own applier (checkout for the
catalog, prices and promotions; face-pay for member erasures); sync only fetches, verifies and
keeps the cursor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Applier = Callable[[int, list[Any]], None]  # (version, items) -> applied in one transaction, or raises


class VersionRefused(Exception):
    """A version that will never apply (bad rows): recorded, shown, and skipped."""


class NotReady(Exception):
    """The domain that applies this kind is not running: keep the cursor and try later."""


class DownSyncAppliers(Protocol):
    def register(self, kind: str, applier: Applier) -> None:
        """Apply versions of `kind` with `applier` (one transaction each; idempotent)."""
