"""Untrusted shopper input made safe to store, relay and show: notes and typed codes."""

from __future__ import annotations

import re
import unicodedata

from edge.platform.errors import InvalidInput

_BIDI = dict.fromkeys([0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F])
_MANY_NL = re.compile(r"\n{3,}")
_SPACES = re.compile(r"\s+")


def clean_note(raw: str, limit: int = 280) -> str:
    """Normalised text without control or bidi-override characters (they can forge log lines and
    SSE frames or reorder what a guide reads); HTML escaping is the page's job, the JSON stays raw."""
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n"))
    text = "".join(
        ch for ch in text if ch == "\n" or (unicodedata.category(ch) not in ("Cc", "Cf") and ord(ch) not in _BIDI)
    )
    return _MANY_NL.sub("\n\n", text).strip()[:limit]


def note_key(note: str) -> str:
    """What makes two notes 'the same thing' for merging duplicate calls."""
    return _SPACES.sub(" ", note.casefold()).strip()[:64]


def _check_digit(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def normalize_gtin(code: str) -> str:
    """GTIN-8/12/13/14 to GTIN-14, check digit verified; anything else is a typed error."""
    digits = code.strip().replace(" ", "").replace("-", "")
    if not digits.isdigit() or not digits.isascii() or len(digits) not in (8, 12, 13, 14):
        raise InvalidInput("that is not a product code (8, 12, 13 or 14 digits)", code="bad_gtin")
    if _check_digit(digits[:-1]) != digits[-1]:
        raise InvalidInput("that product code has a wrong check digit; please retype it", code="bad_gtin")
    return digits.zfill(14)
