"""From a decoder's raw read to a validated code: GTINs verified, GS1 data parsed.

EAN/UPC with a wrong check digit are refused and counted (a decoder should never return one,
but a refused code is a miss, never a wrong item). GS1 element strings and Digital Links that
do not parse keep their text but get no GTIN, so nothing downstream can add them as an item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from prometheus_client import Counter

from edge.platform import gs1, gs1facts
from edge.scanning.decoders import RawRead

REFUSED = Counter("edge_scanning_refused_total", "Codes refused by validation", ["symbology", "reason"])
RETAIL = ("EAN-13", "EAN-8", "UPC-A", "UPC-E")
# The largest payload any symbology we read can hold: a version-40 QR with 7,089 numeric digits
# (2,953 bytes in byte mode, 4,296 alphanumerics; a DataMatrix holds 3,116 digits). Anything
# longer is no code we read; it is refused rather than carried.
MAX_TEXT = 7089
_DIGITAL_LINK = re.compile(r"^https?://[^/?#]+(/[^?#]*)?/(01|gtin)/\d", re.IGNORECASE)


@dataclass(frozen=True)
class Code:
    """A validated code. `text` is untrusted: escape it wherever it is shown."""

    symbology: str
    text: str
    gtin: str | None = None  # GTIN-14
    attributes: tuple[tuple[str, str], ...] = ()  # GS1 Application Identifiers, e.g. (("10", "LOT1"),)
    raw: bytes = b""
    decoders: frozenset[str] = field(default_factory=frozenset)
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    facts: gs1facts.Facts | None = None  # what the code means at a till; None when it names no product

    @property
    def key(self) -> str:
        """Identity for dedupe and confirmation: the GTIN for retail codes, else the text."""
        if self.symbology in RETAIL and self.gtin:
            return "gtin:" + self.gtin
        return f"{self.symbology}:{self.text}"

    @property
    def gtin13(self) -> str | None:
        """The 13-digit comparison form (EAN-8 stays 8 digits)."""
        if self.gtin is None:
            return None
        if self.symbology == "EAN-8":
            return self.gtin[-8:]
        return self.gtin[1:] if self.gtin.startswith("0") else self.gtin


def validate(
    read: RawRead,
    variable_prefixes: list[str] | None = None,
    weight_prefixes: list[str] | None = None,
) -> Code | None:
    """The validated code for a raw read, or None (refused and counted). Variable-measure EAN-13
    in `variable_prefixes` carry a weight (grams) when their prefix is in `weight_prefixes`, else
    a price (minor units): `Code.facts` says which."""
    text = read.text
    layout = gs1facts.Layout(tuple(variable_prefixes or ()), tuple(weight_prefixes or ()))
    if len(text) > MAX_TEXT or len(read.raw) > MAX_TEXT:
        REFUSED.labels(read.symbology, "too_long").inc()
        return None
    if read.symbology in RETAIL:
        try:
            gtin = gs1.retail_gtin14(read.symbology, text)
        except gs1.GS1Error as exc:
            REFUSED.labels(read.symbology, exc.code).inc()
            return None
        # In-store numbering (a weight or a price in the code) lives in EAN-13 only.
        facts = gs1facts.facts(gtin, layout if read.symbology == "EAN-13" else gs1facts.Layout())
        return Code(read.symbology, text, gtin, (), read.raw, frozenset({read.decoder}), read.box, facts)
    gtin_ = None
    attributes: tuple[tuple[str, str], ...] = ()
    if read.gs1:
        try:
            pairs = gs1.parse_element_string(text)
            attributes = tuple(pairs)
            gtin_ = next((v for a, v in pairs if a == "01"), None)
        except gs1.GS1Error as exc:
            REFUSED.labels(read.symbology, exc.code).inc()  # counted; the text is still carried
    elif read.symbology == "QRCode" and _DIGITAL_LINK.match(text):
        try:
            link = gs1.parse_digital_link(text)
            gtin_, attributes = link.gtin, tuple(link.attributes)
        except gs1.GS1Error as exc:
            REFUSED.labels(read.symbology, exc.code).inc()
    found = None
    if gtin_:
        try:
            found = gs1facts.ai_facts(gtin_, attributes)
        except gs1.GS1Error as exc:  # a measure that makes no sense: carried as text, names no product
            REFUSED.labels(read.symbology, exc.code).inc()
            gtin_ = None
    return Code(read.symbology, text, gtin_, attributes, read.raw, frozenset({read.decoder}), read.box, found)
