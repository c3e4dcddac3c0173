"""Untrusted shopper input made safe to store, relay and show: the notes on a call."""

from __future__ import annotations

import re
import unicodedata

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
