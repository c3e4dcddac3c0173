"""The one text policy for free text that reaches the database, the outbox or a page.

Applied at the API edge as pydantic types, so a bad character is a 422 naming the field before
anything is written (the cloud refuses events that carry control characters, and a sale with
such a coupon name would be quarantined forever):

- `SafeStr`: one line. Unicode NFC; bidi controls (which reorder what a person reads) are
  stripped; control characters (NUL, ESC, newlines...) and lone surrogates are refused.
- `SafeText`: the same, but newlines and tabs are kept (a shopper's note, a reason).
- `CodeStr`: a scanned or signed code: printable ASCII and GS1's GS separator only.
- `OpaqueStr`: a password or a base64 image: compared or decoded, never stored or shown.

Ids in paths have a pattern of their own (edge.platform.web). tests/unit/test_text_policy.py
walks the OpenAPI and fails on any text field without one of these.

Lengths stay on each field (`Field(max_length=...)`): what fits differs by field.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def clean(value: str, *, multiline: bool = False) -> str:
    """The text as stored and shown; raises ValueError (a 422 at the edge) with the reason."""
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise ValueError("contains a lone surrogate (not valid Unicode text)")
    text = "".join(ch for ch in unicodedata.normalize("NFC", value) if ch not in BIDI)
    allowed = "\n\t" if multiline else ""
    for ch in text:
        if unicodedata.category(ch) == "Cc" and ch not in allowed:
            raise ValueError(f"contains a control character (U+{ord(ch):04X}); type plain text")
    return text


def _line(value: str) -> str:
    return clean(value)


def _para(value: str) -> str:
    return clean(value.replace("\r\n", "\n").replace("\r", "\n"), multiline=True)


def _code(value: str) -> str:
    for ch in value:
        if not (" " <= ch <= "~" or ch == GS):
            raise ValueError(f"contains U+{ord(ch):04X}; a code is printable ASCII (and GS1's separator)")
    return value


class Policy:
    """Marks a text type in the OpenAPI (`x-text-policy`), so a test can prove that every text
    field the API declares has a policy, and clients can see which."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out["x-text-policy"] = self.name
        return out


GS = "\x1d"  # GS1's FNC1 separator, as a scanner sends it inside an element string
SafeStr = Annotated[str, AfterValidator(_line), Policy("line")]
SafeText = Annotated[str, AfterValidator(_para), Policy("text")]
# Machine-read text: a scanned barcode or a signed code (member, coupon, exit pass). Refused
# unless printable ASCII: what a scanner or a QR of ours can produce.
CodeStr = Annotated[str, AfterValidator(_code), Policy("code")]
# Compared or decoded, never stored or shown (a password, a base64 image): left exactly as sent.
OpaqueStr = Annotated[str, Policy("opaque")]
