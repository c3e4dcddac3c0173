"""What other domains may ask of fitting: which items were tried on, and with which guide
(`tryons` slot), so that a sale can give the guide who served the shopper credit for it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class TryOns(Protocol):
    def tried_since(self, gtins: list[str], since: datetime) -> dict[str, str | None]:
        """For each of these GTINs tried in a fitting room of this store since `since`: the guide
        who claimed a call of that visit (the latest such claim), or None when no guide served it.
        GTINs not tried are absent."""
