"""What other domains may ask of scanning (the registry's `scanning` and `codes` slots)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from edge.platform.gs1facts import Facts


class ScanStats(Protocol):
    def camera_stats(self, camera_id: str) -> dict[str, Any]:
        """Decode figures of one camera's scanner ({} when it has none)."""


class CodeReader(Protocol):
    def read_typed(self, text: str) -> Facts:
        """What a product code a person typed means under this store's GS1 layout (an embedded
        weight or price included); InvalidInput `invalid_gtin` / `bad_check_digit` otherwise."""


@dataclass(frozen=True)
class ReadCode:
    """A code confirmed in a phone's frames. `text` is untrusted; `facts` as in ScanEvent.gs1."""

    text: str
    symbology: str
    facts: Facts | None


@dataclass(frozen=True)
class FrameRead:
    codes: tuple[ReadCode, ...]  # confirmed by this frame (each code once while it stays in view)
    seen: int  # codes decoded in this frame, confirmed or not (the page's "hold still" hint)
    decode_ms: float
    repeated: bool = False  # this frame id was read before (a resend): nothing new


class FrameReader(Protocol):
    """The `frames` slot: the kiosk cameras' decoder ensemble, GS1 validation and confirmation,
    for frames a shopper's phone sends (edge.phone)."""

    def read_frame(self, stream_id: str, data: bytes, t_ms: float | None, frame_id: str | None) -> FrameRead:
        """Decode one JPEG/PNG/WebP frame of one phone's stream. `t_ms` is the page's clock at
        capture (frames queued offline keep their timing); typed 4xx for a bad image, 503
        `scanner_busy` when every decode slot stayed taken."""

    def forget(self, stream_id: str) -> None:
        """Drop a stream's confirmation state (its cart was paid or abandoned)."""
