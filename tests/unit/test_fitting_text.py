"""Shopper text and typed codes are made safe before they are stored or relayed."""

from __future__ import annotations

import pytest

from edge.fitting.text import clean_note, note_key
from edge.fitting.topics import room_of_claim_topic
from edge.platform.errors import InvalidInput
from edge.platform.gs1 import normalise_gtin


def test_clean_note_strips_controls_and_bidi_but_keeps_text() -> None:
    raw = "Size M\r\nplease\x1b[2J\x00 \u202egnp.exe\u202c  <b>now</b>\n\n\n\nthanks"
    out = clean_note(raw)
    assert out == "Size M\nplease[2J gnp.exe  <b>now</b>\n\nthanks"
    assert clean_note("x" * 500) == "x" * 280
    assert clean_note("  café  ") == "café"


def test_note_key_merges_trivial_differences_only() -> None:
    assert note_key("Zip  STUCK ") == note_key("zip stuck")
    assert note_key("zip stuck") != note_key("need a hanger")


@pytest.mark.parametrize(
    ("code", "gtin"),
    [("4006381333931", "04006381333931"), ("96385074", "00000096385074"), ("036000291452", "00036000291452")],
)
def test_normalise_gtin(code: str, gtin: str) -> None:
    assert normalise_gtin(code) == gtin
    assert normalise_gtin(f" {code[:4]}-{code[4:]} ") == gtin  # spaces and hyphens as people type them


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("4006381333932", "bad_check_digit"),
        ("abc", "invalid_gtin"),
        ("12345", "invalid_gtin"),
        ("４００６３８１３３３９３１", "invalid_gtin"),
        ("", "invalid_gtin"),
    ],
)
def test_bad_codes_are_typed_errors_with_one_vocabulary(code: str, error: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalise_gtin(code)
    assert err.value.code == error


def test_claim_topic_parsing() -> None:
    assert room_of_claim_topic("s1", "retail/s1/fitting/room-1/claim") == "room-1"
    assert room_of_claim_topic("s1", "retail/s2/fitting/room-1/claim") is None
    assert room_of_claim_topic("s1", "retail/s1/fitting/room-1/call") is None
