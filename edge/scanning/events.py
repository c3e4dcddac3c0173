"""Events the scanning pipeline publishes on the bus."""

from __future__ import annotations

from dataclasses import dataclass

from edge.bus import Event
from edge.platform.gs1facts import Facts


@dataclass(frozen=True, kw_only=True)
class ScanEvent(Event):
    """A confirmed code seen by a camera. `text` is untrusted: escape it wherever it is shown.

    `gs1` is what the code says as a product (GTIN-14, the catalog's lookup GTIN, an embedded
    weight or price, further AIs), parsed once by scanning for EAN/UPC, GS1 codes with an (01)
    and GS1 Digital Link QR codes; None for anything else (an exit pass, a member QR).
    """

    camera_id: str
    role: str  # kiosk | fitting_room | exit_gate | face
    target: str | None  # kiosk id, room id or gate id the camera is bound to
    symbology: str  # EAN-13, EAN-8, UPC-A, UPC-E, Code128, QRCode, DataMatrix
    text: str
    gs1: Facts | None = None
    decoders: tuple[str, ...] = ()  # which decoders read it in the confirming frame (zxing, zbar, ...)

    @property
    def gtin(self) -> str | None:
        return self.gs1.gtin if self.gs1 is not None else None
