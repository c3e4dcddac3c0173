"""What other domains may ask of scanning (the registry's `scanning` and `codes` slots)."""

from __future__ import annotations

from typing import Any, Protocol

from edge.platform.gs1facts import Facts


class ScanStats(Protocol):
    def camera_stats(self, camera_id: str) -> dict[str, Any]:
        """Decode figures of one camera's scanner ({} when it has none)."""


class CodeReader(Protocol):
    def read_typed(self, text: str) -> Facts:
        """What a product code a person typed means under this store's GS1 layout (an embedded
        weight or price included); InvalidInput `invalid_gtin` / `bad_check_digit` otherwise."""
