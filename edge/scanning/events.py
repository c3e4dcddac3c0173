"""Events the scanning pipeline publishes on the bus."""

from __future__ import annotations

from dataclasses import dataclass

from edge.bus import Event


@dataclass(frozen=True, kw_only=True)
class ScanEvent(Event):
    """A confirmed code seen by a camera. `text` is untrusted: escape it wherever it is shown.

    `gtin` is the normalised GTIN-14 for EAN/UPC, GS1 codes with an (01) and GS1 Digital Link
    QR codes, else None. Variable-measure EAN-13 (in-store prefixes) carry `vm_item`,
    `vm_weight` (grams) or `vm_price` (minor units) and `vm_lookup_gtin` in `attributes`.
    """

    camera_id: str
    role: str  # kiosk | fitting_room | exit_gate | face
    target: str | None  # kiosk id, room id or gate id the camera is bound to
    symbology: str  # EAN-13, EAN-8, UPC-A, UPC-E, Code128, QRCode, DataMatrix
    text: str
    gtin: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()  # GS1 AIs, e.g. (("10", "LOT1"), ("17", "261231"))
    decoders: tuple[str, ...] = ()  # which decoders read it in the confirming frame (zxing, zbar, ...)
