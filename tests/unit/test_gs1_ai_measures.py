"""Variable-measure items whose value travels in an AI (DataBar Expanded, GS1-128): net weight
(310n) to grams, price payable (392n) to minor units, and a cart key per pack."""

from __future__ import annotations

import pytest

from edge.platform import gs1, gs1facts

GTIN = "9" + "695000000123"
GTIN += gs1.check_digit(GTIN)


@pytest.mark.parametrize(
    ("ai", "value", "kind", "expected"),
    [
        ("3103", "000750", "weight", 750),  # 0.750 kg
        ("3102", "000075", "weight", 750),  # 0.75 kg
        ("3100", "000002", "weight", 2000),  # 2 kg
        ("3104", "007505", "weight", 751),  # 0.7505 kg: half a gram rounds up
        ("3104", "007504", "weight", 750),
        ("3922", "001299", "price", 1299),  # 12.99
        ("3921", "00129", "price", 1290),  # 12.9
        ("3923", "12990", "price", 1299),
    ],
)
def test_a_measure_ai_gives_grams_or_minor_units(ai: str, value: str, kind: str, expected: int) -> None:
    facts = gs1facts.ai_facts(GTIN, (("01", GTIN), (ai, value)))
    assert (facts.measure, facts.value, facts.lookup_gtin) == (kind, expected, GTIN)
    assert facts.measured_by_ai


def test_the_price_wins_over_the_weight_and_packs_are_told_apart() -> None:
    both = gs1facts.ai_facts(GTIN, (("01", GTIN), ("3103", "000750"), ("3922", "001299")))
    assert (both.measure, both.value) == ("price", 1299)
    light = gs1facts.ai_facts(GTIN, (("01", GTIN), ("3103", "000750")))
    heavy = gs1facts.ai_facts(GTIN, (("01", GTIN), ("3103", "001200")))
    assert light.line_key != heavy.line_key and light.line_key.startswith(GTIN)
    plain = gs1facts.ai_facts(GTIN, (("01", GTIN), ("10", "LOT1")))
    assert (plain.measure, plain.line_key, plain.ais) == ("", GTIN, (("01", GTIN), ("10", "LOT1")))


def test_a_price_finer_than_the_currency_is_refused() -> None:
    with pytest.raises(gs1.GS1Error) as err:
        gs1facts.ai_facts(GTIN, (("01", GTIN), ("3923", "12995")))
    assert err.value.code == "gs1_bad_price"


def test_a_fixed_measure_pack_keeps_its_net_weight_as_information() -> None:
    """A 200 g pack (indicator digit 0) with its net weight in a DataMatrix is sold at its price."""
    fixed = "0" + GTIN[1:-1]
    fixed += gs1.check_digit(fixed)
    facts = gs1facts.ai_facts(fixed, (("01", fixed), ("3103", "000200"), ("17", "261231")))
    assert (facts.measure, facts.value, facts.measured_by_ai) == ("", 0, False)
    assert ("3103", "000200") in facts.ais and facts.line_key == fixed + "e261231"


@pytest.mark.parametrize("value", ["261300", "260000", "261232", "2612"])
def test_a_date_that_does_not_exist_is_refused(value: str) -> None:
    with pytest.raises(gs1.GS1Error) as err:
        gs1.parse_date(value)
    assert err.value.code == "gs1_bad_date"


def test_an_ai_given_twice_is_refused() -> None:
    with pytest.raises(gs1.GS1Error) as err:
        gs1.parse_element_string(f"(01){GTIN}(17)261231(17)270101")
    assert err.value.code == "gs1_repeated_ai"
