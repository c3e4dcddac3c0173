"""GS1 pure functions: check digits, UPC-E, variable measure, AIs, Digital Link (with property tests)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.platform import gs1

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
bodies = st.sampled_from([7, 11, 12, 13]).flatmap(lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n))


@given(bodies)
@settings(deadline=None)  # a loaded CI box must not turn slowness into a failure
def test_check_digit_makes_a_valid_gtin_and_gtin14_pads(body: str) -> None:
    code = body + gs1.check_digit(body)
    assert gs1.is_valid_gtin(code)
    assert gs1.gtin14(code) == code.zfill(14)
    assert gs1.is_valid_gtin(gs1.gtin14(code))  # padding keeps the check digit right


@given(bodies, st.data())
@settings(deadline=None)  # a loaded CI box must not turn slowness into a failure
def test_any_single_digit_error_is_caught(body: str, data: st.DataObject) -> None:
    code = body + gs1.check_digit(body)
    pos = data.draw(st.integers(0, len(code) - 1))
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != code[pos]]))
    broken = code[:pos] + new + code[pos + 1 :]
    assert not gs1.is_valid_gtin(broken)
    with pytest.raises(gs1.GS1Error) as err:
        gs1.gtin14(broken)
    assert err.value.code == "gtin_bad_check_digit"


def test_known_gtins() -> None:
    assert gs1.check_digit("950600013435") == "2"  # GS1's own example GTIN 9506000134352
    assert gs1.gtin14("96385074") == "00000096385074"  # GTIN-8
    assert gs1.gtin14("036000291452") == "00036000291452"  # UPC-A
    assert gs1.gtin13("036000291452") == "0036000291452"


@pytest.mark.parametrize(
    ("bad", "code"),
    [("", "gtin_not_digits"), ("12345", "gtin_bad_length"), ("95060001343A2", "gtin_not_digits")],
)
def test_bad_gtins_get_typed_errors(bad: str, code: str) -> None:
    with pytest.raises(gs1.GS1Error) as err:
        gs1.gtin14(bad)
    assert err.value.code == code
    assert err.value.status == 400


@pytest.mark.parametrize(
    ("upce", "upca"),
    [("01234565", "012345000065"), ("04252614", "042100005264"), ("01234133", "012300000413")],
)
def test_upce_expands_to_upca_with_the_same_check_digit(upce: str, upca: str) -> None:
    assert gs1.upce_to_upca(upce) == upca
    assert gs1.is_valid_gtin(upca)


@settings(deadline=None)  # a loaded CI box must not turn slowness into a failure
@given(st.sampled_from("01"), st.text(alphabet="0123456789", min_size=6, max_size=6))
def test_a_upc_e_compressed_back_expands_to_the_same_upc_a(ns: str, six: str) -> None:
    upca = gs1.upce_to_upca(ns + six)
    upce = gs1.upca_to_upce(upca)
    assert upce is not None and gs1.upce_to_upca(upce) == upca
    assert gs1.upca_to_upce("0" + upca) == upce  # zxing-cpp 3 spells it as 13 digits


@pytest.mark.parametrize("upca", ["036000291452", "212345678992", "01234", "0123456789ab"])
def test_a_upc_a_without_a_upc_e_form_compresses_to_nothing(upca: str) -> None:
    assert gs1.upca_to_upce(upca) is None


@given(
    st.text(alphabet="0123456789", min_size=5, max_size=5),
    st.integers(0, 99999),
    st.sampled_from(["21", "28"]),
)
@settings(deadline=None)
def test_variable_measure_round_trip(item: str, value: int, prefix: str) -> None:
    body = f"{prefix}{item}{value:05d}"
    code = body + gs1.check_digit(body)
    vm = gs1.variable_measure(code, [str(n) for n in range(20, 30)], weight_prefixes=["28", "29"])
    assert vm is not None
    assert (vm.item_reference, vm.value) == (item, value)
    assert vm.kind == ("weight" if prefix == "28" else "price")
    assert gs1.is_valid_gtin(vm.lookup_gtin) and vm.lookup_gtin.startswith(prefix + item + "00000")


def test_variable_measure_ignores_other_prefixes() -> None:
    assert gs1.variable_measure("4006381333931", ["20", "21"]) is None


# ---------------------------------------------------------------- Application Identifiers

lots = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=20)
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2049, 12, 31))


@given(bodies.filter(lambda b: len(b) == 13), lots, dates, lots, st.integers(0, 999999), st.integers(0, 10**9))
@settings(max_examples=60, deadline=None)
def test_element_string_round_trip(body: str, lot: str, expiry: date, serial: str, grams: int, price: int) -> None:
    gtin = body + gs1.check_digit(body)
    pairs = [("01", gtin), ("17", expiry.strftime("%y%m%d")), ("10", lot), ("21", serial),
             ("3103", f"{grams:06d}"), ("3922", str(price))]  # fmt: skip
    # FNC1 (GS) after every variable-length field except the last, as a printer would send it
    raw = "".join(ai + v + (gs1.GS if ai in ("10", "21") else "") for ai, v in pairs)
    assert gs1.parse_element_string(raw) == pairs
    hri = "".join(f"({ai}){v}" for ai, v in pairs)
    assert gs1.parse_element_string(hri) == pairs
    assert gs1.parse_date(pairs[1][1]) == expiry
    assert gs1.decimal_value("3103", pairs[4][1]) == (grams, 3)
    assert gs1.decimal_value("3922", pairs[5][1]) == (price, 2)


def test_gs1_128_symbology_identifier_and_day_zero() -> None:
    assert gs1.parse_element_string("]C10109506000134352" + "17261200") == [
        ("01", "09506000134352"),
        ("17", "261200"),
    ]
    assert gs1.parse_date("261200") == date(2026, 12, 31)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("0109506000134353", "gtin_bad_check_digit"),
        ("0109506000134", "gs1_bad_length"),
        ("99", "gs1_bad_length"),
        ("7777", "gs1_unknown_ai"),
        ("17261332", "gs1_bad_date"),
        ("(01)0950600013435", "gs1_bad_length"),
        ("10AB\x07C", "gs1_control_chars"),
    ],
)
def test_bad_element_strings_get_typed_errors(text: str, code: str) -> None:
    with pytest.raises(gs1.GS1Error) as err:
        gs1.parse_element_string(text)
    assert err.value.code == code


# Every public function, with the garbage in each argument position in turn.
PUBLIC: list[Callable[[Any], object]] = [
    gs1.check_digit,
    gs1.is_valid_gtin,
    gs1.gtin14,
    gs1.gtin13,
    gs1.upce_to_upca,
    lambda x: gs1.retail_gtin14("UPC-E", x),
    lambda x: gs1.retail_gtin14(x, "4006381333931"),
    lambda x: gs1.variable_measure(x, ["20", "28"]),
    lambda x: gs1.variable_measure("2812345012347", x),
    lambda x: gs1.variable_measure("2812345012347", ["28"], x),
    lambda x: gs1.variable_measure("2812345012347", ["28"], ["28"], x),
    gs1.parse_element_string,
    gs1.parse_date,
    lambda x: gs1.decimal_value(x, "001250"),
    lambda x: gs1.decimal_value("3103", x),
    gs1.parse_digital_link,
]
garbage = st.one_of(
    st.text(max_size=200),
    st.integers(),
    st.none(),
    st.binary(max_size=30),
    st.floats(),
    st.booleans(),
    st.lists(st.one_of(st.integers(), st.text(max_size=4)), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@given(garbage)
@settings(deadline=None)  # a loaded CI box must not turn slowness into a failure
def test_garbage_never_escapes_as_a_bare_exception(value: object) -> None:
    for fn in PUBLIC:
        with contextlib.suppress(gs1.GS1Error):
            fn(value)


@pytest.mark.parametrize("value", [123, None, b"950600013435", 9.5, ["9506"]])
def test_non_text_input_gets_the_typed_error(value: object) -> None:
    with pytest.raises(gs1.GS1Error) as err:
        gs1.check_digit(value)  # type: ignore[arg-type]
    assert (err.value.code, err.value.status) == ("gs1_not_text", 400)
    for fn in (gs1.gtin14, gs1.upce_to_upca, gs1.parse_date, gs1.parse_element_string, gs1.parse_digital_link):
        with pytest.raises(gs1.GS1Error):
            fn(value)  # type: ignore[arg-type]
    assert gs1.is_valid_gtin(value) is False  # type: ignore[arg-type]


# ---------------------------------------------------------------- Digital Link


def test_digital_link_from_the_issue() -> None:
    link = gs1.parse_digital_link("https://id.example.com/01/09506000134352/10/ABC?17=261231")
    assert link.gtin == "09506000134352"
    assert link.attributes == [("10", "ABC"), ("17", "261231")]


def test_digital_link_with_the_gtin_alias() -> None:
    link = gs1.parse_digital_link("https://id.example.com/gtin/9506000134352/10/ABC")
    assert (link.gtin, link.attributes) == ("09506000134352", [("10", "ABC")])


@given(bodies.filter(lambda b: len(b) == 13), lots, lots, dates)
@settings(max_examples=50, deadline=None)
def test_digital_link_round_trip(body: str, lot: str, serial: str, expiry: date) -> None:
    gtin = body + gs1.check_digit(body)
    uri = f"https://shop.example/some/prefix/01/{gtin}/10/{lot}/21/{serial}?17={expiry:%y%m%d}&foo=bar"
    link = gs1.parse_digital_link(uri)
    assert link.gtin == gtin
    assert link.attributes == [("10", lot), ("21", serial), ("17", f"{expiry:%y%m%d}")]


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("ftp://id.example.com/01/09506000134352", "dl_invalid"),
        ("https://id.example.com/10/ABC", "dl_no_gtin"),
        ("https://id.example.com/01/09506000134353", "gtin_bad_check_digit"),
        ("https://id.example.com/01/09506000134352/10", "dl_malformed"),
        ("https://id.example.com/01/09506000134352/99/x", "dl_malformed"),
        ("https://id.example.com/01/09506000134352?17=261399", "gs1_bad_date"),
    ],
)
def test_bad_digital_links_get_typed_errors(uri: str, code: str) -> None:
    with pytest.raises(gs1.GS1Error) as err:
        gs1.parse_digital_link(uri)
    assert err.value.code == code
