"""The one GS1 library: GTIN check digits and normalisation, UPC-E expansion, variable-measure
codes, Application Identifier element strings (GS1-128, GS1 DataMatrix/QR), GS1 Digital Link
URIs, and `Facts`, what a code says, parsed once where it is read and carried on from there.

Everything here raises `GS1Error` (a typed `InvalidInput` with a machine-readable code) on bad
input, including input of the wrong type (a number, None, bytes), so a hostile or damaged code
never escapes as a bare exception into a frame loop. `is_valid_gtin` answers False instead.
`normalise_gtin` is the shopper-facing door: its two error codes (`invalid_gtin`,
`bad_check_digit`) are what every page and API shows for a mistyped product code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import parse_qsl, unquote, urlsplit

from edge.platform.errors import InvalidInput

GS = "\x1d"  # FNC1 as transmitted inside an element string
_DIGITS = re.compile(r"^[0-9]+$")


class GS1Error(InvalidInput):
    """A code that breaks a GS1 rule (bad check digit, unknown AI, malformed Digital Link)."""

    code = "gs1_invalid"


def _text(value: object, what: str) -> str:
    """`value` when it is a str; a typed error otherwise (a caller passing an int gets GS1Error)."""
    if not isinstance(value, str):
        raise GS1Error(f"{what} must be text, not {type(value).__name__}", code="gs1_not_text")
    return value


# ---------------------------------------------------------------- GTIN check digits


def check_digit(body: str) -> str:
    """The GS1 mod-10 check digit for a GTIN body of 7, 11, 12 or 13 digits (or any digit string)."""
    if not _text(body, "a GTIN body") or not _DIGITS.match(body):
        raise GS1Error("a GTIN body must be digits only", code="gtin_not_digits")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def is_valid_gtin(code: str) -> bool:
    """True when `code` is a GTIN-8/12/13/14 with a correct check digit."""
    return (
        isinstance(code, str)
        and len(code) in (8, 12, 13, 14)
        and bool(_DIGITS.match(code))
        and check_digit(code[:-1]) == code[-1]
    )


def gtin14(code: str) -> str:
    """A GTIN-8/12/13/14 as GTIN-14 (left-padded with zeros), after verifying its check digit."""
    if not _DIGITS.match(_text(code, "a GTIN")):
        raise GS1Error("a GTIN must be digits only", code="gtin_not_digits")
    if len(code) not in (8, 12, 13, 14):
        raise GS1Error(f"a GTIN has 8, 12, 13 or 14 digits, not {len(code)}", code="gtin_bad_length")
    if check_digit(code[:-1]) != code[-1]:
        raise GS1Error("the GTIN's check digit is wrong", code="gtin_bad_check_digit")
    return code.zfill(14)


def normalise_gtin(text: str) -> str:
    """Typed or scanned GTIN-8/12/13/14 (spaces and hyphens allowed) as GTIN-14.

    The one shopper-facing normaliser: raises InvalidInput `invalid_gtin` (not 8, 12, 13 or 14
    digits) or `bad_check_digit`."""
    digits = text.strip().replace(" ", "").replace("-", "") if isinstance(text, str) else ""
    try:
        return gtin14(digits)
    except GS1Error as exc:
        if exc.code == "gtin_bad_check_digit":
            raise InvalidInput(
                "the product code's check digit is wrong; scan or type it again", code="bad_check_digit"
            ) from None
        raise InvalidInput("a product code is 8, 12, 13 or 14 digits", code="invalid_gtin") from None


def gtin13(code: str) -> str:
    """The 13-digit form used for EAN/UPC comparison (GTIN-8 stays 8 digits, as EAN-8)."""
    full = gtin14(code)
    if len(code) == 8:
        return code
    if full[0] != "0":
        raise GS1Error("a GTIN-14 with a packaging indicator has no 13-digit form", code="gtin_not_13")
    return full[1:]


def upce_to_upca(code: str) -> str:
    """Expands an 8-digit UPC-E (number system, six digits, check) to its 12-digit UPC-A."""
    if len(_text(code, "a UPC-E")) == 7:  # without its check digit
        code = code + "?"
    if len(code) != 8 or not _DIGITS.match(code[:7]):
        raise GS1Error("UPC-E has 8 digits", code="upce_bad_length")
    ns, d, check = code[0], code[1:7], code[7]
    if ns not in "01":
        raise GS1Error("UPC-E number system must be 0 or 1", code="upce_bad_number_system")
    last = d[5]
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    upca11 = ns + body
    if check == "?":
        return upca11 + check_digit(upca11)
    return upca11 + check


def upca_to_upce(code: str) -> str | None:
    """The 8-digit UPC-E a 12-digit UPC-A (or its 13-digit EAN form, leading 0) compresses to, or
    None when it has none. zxing-cpp 3 reports UPC-E symbols expanded; the till keeps zbar's
    8-digit form. Where two compressions expand alike (a symbol may be printed with either),
    the first zero-suppression rule wins, so the text may differ from the print while the GTIN,
    which is what identifies the item, is the same."""
    if len(code) == 13 and code.startswith("0"):
        code = code[1:]
    if len(code) != 12 or not _DIGITS.match(code) or code[0] not in "01":
        return None
    ns, body, check = code[0], code[1:11], code[11]
    if body[3:7] == "0000" and body[2] in "012":
        six = body[0:2] + body[7:10] + body[2]
    elif body[3:8] == "00000":
        six = body[0:3] + body[8:10] + "3"
    elif body[4:9] == "00000":
        six = body[0:4] + body[9] + "4"
    elif body[5:9] == "0000" and body[9] in "56789":
        six = body[0:5] + body[9]
    else:
        return None
    upce = ns + six + check
    return upce if upce_to_upca(upce) == code else None


def retail_gtin14(symbology: str, text: str) -> str:
    """EAN-13/EAN-8/UPC-A/UPC-E text as a verified GTIN-14."""
    if _text(symbology, "a symbology") == "UPC-E":
        text = upce_to_upca(text)
    return gtin14(text)


# ---------------------------------------------------------------- variable-measure codes


@dataclass(frozen=True)
class VariableMeasure:
    """A weighed or priced item: which product, and the weight (grams) or price (minor units)."""

    prefix: str
    item_reference: str
    kind: str  # "weight" (grams) or "price" (minor units)
    value: int
    lookup_gtin: str  # the code with the value zeroed: how the catalog lists the item


def variable_measure(
    code: str,
    prefixes: list[str],
    weight_prefixes: list[str] | None = None,
    item_digits: int = 5,
) -> VariableMeasure | None:
    """Splits a GTIN-13 in a configured in-store prefix range into item and value; None otherwise.

    Layout: prefix (2) + item reference (`item_digits`) + value (the rest) + check digit. Prefixes in
    `weight_prefixes` carry grams, the others a price in minor units. Countries differ, so all of
    this comes from config.
    """
    full = gtin14(code)
    if not isinstance(prefixes, list | tuple) or not all(isinstance(p, str) and p for p in prefixes):
        raise GS1Error("variable-measure prefixes must be a list of digit strings", code="vm_bad_layout")
    if weight_prefixes is not None and not isinstance(weight_prefixes, list | tuple):
        raise GS1Error("weight prefixes must be a list of digit strings", code="vm_bad_layout")
    if not isinstance(item_digits, int) or isinstance(item_digits, bool):
        raise GS1Error("item_digits must be an integer", code="vm_bad_layout")
    if full[0] != "0":
        return None
    g13 = full[1:]
    prefix = next((p for p in sorted(prefixes, key=len, reverse=True) if g13.startswith(p)), None)
    if prefix is None:
        return None
    value_digits = 12 - len(prefix) - item_digits
    if item_digits < 1 or value_digits < 1:
        raise GS1Error("variable-measure layout leaves no room for the value", code="vm_bad_layout")
    item = g13[len(prefix) : len(prefix) + item_digits]
    value = int(g13[len(prefix) + item_digits : 12])
    kind = "weight" if prefix in (weight_prefixes or []) else "price"
    body = prefix + item + "0" * value_digits
    return VariableMeasure(prefix, item, kind, value, body + check_digit(body))


def variable_measure_code(item_gtin13: str, value: int) -> str:
    """The EAN-13 a scale prints for this catalog item (its value digits zeroed) and value."""
    if not 0 <= value <= 99999:
        raise GS1Error("value must fit five digits", code="vm_bad_value")
    body = item_gtin13[:7] + f"{value:05d}"
    return body + check_digit(body)


# ---------------------------------------------------------------- Application Identifiers

# Fixed-length AIs (data length) by prefix, then variable-length maxima. Not every AI in the GS1
# general specifications; enough for retail labels, and unknown AIs are refused, not guessed.
_FIXED: dict[str, int] = {"00": 18, "01": 14, "02": 14, "03": 14, "20": 2}
_FIXED.update({f"1{d}": 6 for d in "1234567"})
_FIXED.update({f"41{d}": 13 for d in "01234567"})
_FIXED.update({f"3{a}{b}{n}": 6 for a in "123456" for b in "0123456789" for n in "0123456789"})
_VARIABLE: dict[str, int] = {
    "10": 20,
    "21": 20,
    "22": 20,
    "240": 30,
    "241": 30,
    "242": 6,
    "250": 30,
    "251": 30,
    "253": 30,
    "254": 20,
    "30": 8,
    "37": 8,
    "400": 30,
    "401": 30,
    "403": 30,
    "420": 20,
    "421": 12,
    "422": 3,
    "8003": 30,
    "8004": 30,
    "8020": 25,
}
_VARIABLE.update({f"9{d}": 90 for d in "0123456789"})
_VARIABLE.update({f"39{k}{n}": 18 if k in "13" else 15 for k in "0123" for n in "0123456789"})
_SYMBOLOGY_IDS = ("]C1", "]e0", "]d2", "]Q3", "]J1")
_HRI = re.compile(r"\((\d{2,4})\)([^()]*)")


def _ai_at(data: str, pos: int) -> tuple[str, int, bool]:
    """The AI starting at `pos`: (ai, max or fixed data length, is_fixed)."""
    for size in (2, 3, 4):
        ai = data[pos : pos + size]
        if ai in _FIXED:
            return ai, _FIXED[ai], True
        if ai in _VARIABLE:
            return ai, _VARIABLE[ai], False
    raise GS1Error(f"unknown Application Identifier at position {pos}", code="gs1_unknown_ai")


def parse_element_string(text: str) -> list[tuple[str, str]]:
    """(AI, value) pairs from a GS1 element string: FNC1/GS-separated, or human-readable `(01)...`."""
    if not isinstance(text, str) or not text:
        raise GS1Error("empty GS1 element string", code="gs1_empty")
    for sid in _SYMBOLOGY_IDS:
        if text.startswith(sid):
            text = text[len(sid) :]
            break
    text = text.lstrip(GS)
    if text.startswith("("):
        pairs = [(m.group(1), m.group(2)) for m in _HRI.finditer(text)]
        if not pairs or "".join(f"({a}){v}" for a, v in pairs) != text:
            raise GS1Error("malformed human-readable GS1 string", code="gs1_malformed")
        for ai, value in pairs:
            _ai, length, fixed = _ai_at(ai, 0)
            if _ai != ai or (fixed and len(value) != length) or len(value) > length:
                raise GS1Error(f"bad value length for AI ({ai})", code="gs1_bad_length")
        return _validated(pairs)
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        ai, length, fixed = _ai_at(text, pos)
        start = pos + len(ai)
        if fixed:
            value = text[start : start + length]
            if len(value) != length or GS in value:
                raise GS1Error(f"AI ({ai}) needs {length} characters", code="gs1_bad_length")
            pos = start + length
            if pos < len(text) and text[pos] == GS:
                pos += 1
        else:
            end = text.find(GS, start)
            end = len(text) if end < 0 else end
            value = text[start:end]
            if not value or len(value) > length:
                raise GS1Error(f"AI ({ai}) value is empty or longer than {length}", code="gs1_bad_length")
            pos = end + 1
        out.append((ai, value))
    return _validated(out)


def _validated(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen = [ai for ai, _ in pairs]
    if len(set(seen)) != len(seen):  # which of two use-by dates or weights would count?
        raise GS1Error("an AI appears twice in one code", code="gs1_repeated_ai")
    for ai, value in pairs:
        if ai in ("01", "02", "03") and not is_valid_gtin(value):
            raise GS1Error(f"AI ({ai}) holds an invalid GTIN", code="gtin_bad_check_digit")
        if ai[:2] in ("11", "12", "13", "15", "16", "17") and len(ai) == 2:
            parse_date(value)
        if (ai[:2] in ("31", "32", "33", "34", "35", "36") or ai[:3] in ("390", "392")) and not _DIGITS.match(value):
            raise GS1Error(f"AI ({ai}) must be digits", code="gs1_not_digits")
        if any(ord(c) < 32 for c in value):
            raise GS1Error(f"AI ({ai}) holds control characters", code="gs1_control_chars")
    return pairs


def parse_date(value: str) -> date:
    """A GS1 YYMMDD date; day 00 means the last day of the month (GS1 general specifications)."""
    if len(_text(value, "a GS1 date")) != 6 or not _DIGITS.match(value):
        raise GS1Error("a GS1 date is YYMMDD", code="gs1_bad_date")
    yy, mm, dd = int(value[:2]), int(value[2:4]), int(value[4:6])
    year = 2000 + yy if yy < 50 else 1900 + yy  # simplified sliding window
    if not 1 <= mm <= 12:  # day 00 must not make month 13 or 00 roll into another year
        raise GS1Error("a GS1 date names a month that does not exist", code="gs1_bad_date")
    try:
        if dd == 0:
            nxt = date(year + (mm == 12), mm % 12 + 1, 1)
            return date.fromordinal(nxt.toordinal() - 1)
        return date(year, mm, dd)
    except ValueError:
        raise GS1Error("a GS1 date names a day that does not exist", code="gs1_bad_date") from None


def decimal_value(ai: str, value: str) -> tuple[int, int]:
    """(integer, decimals) for a measure or price AI such as (3103) or (3922): the last AI digit
    says where the decimal point goes. (3103)001250 is 1.250 kg -> (1250, 3)."""
    if len(_text(ai, "an AI")) != 4 or not _text(value, "a value") or not _DIGITS.match(ai) or not _DIGITS.match(value):
        raise GS1Error(f"AI ({ai}) has no decimal value", code="gs1_not_decimal")
    if ai.startswith(("391", "393")):
        value = value[3:]  # ISO 4217 currency code first
    return int(value), int(ai[3])


# ---------------------------------------------------------------- Digital Link

_DL_PRIMARY = {"01": 14, "gtin": 14}
_DL_QUALIFIERS = ("22", "10", "21", "235")


@dataclass(frozen=True)
class DigitalLink:
    """A GS1 Digital Link URI split into its GTIN and attributes (AI -> value)."""

    gtin: str
    attributes: list[tuple[str, str]] = field(default_factory=list)


def parse_digital_link(uri: str) -> DigitalLink:
    """Parses e.g. https://id.example.com/01/09506000134352/10/ABC?17=261231 (any domain, any path
    prefix). The GTIN is verified; qualifiers and numeric query keys become AI attributes."""
    if not isinstance(uri, str) or len(uri) > 4096:
        raise GS1Error("not a Digital Link URI", code="dl_invalid")
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise GS1Error("not a URI", code="dl_invalid") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GS1Error("a Digital Link is an http(s) URI", code="dl_invalid")
    segs = [unquote(s) for s in parts.path.split("/") if s]
    idx = next((i for i, s in enumerate(segs) if s in _DL_PRIMARY), None)
    if idx is None or idx + 1 >= len(segs):
        raise GS1Error("no (01) GTIN in the Digital Link path", code="dl_no_gtin")
    raw = segs[idx + 1]
    if not _DIGITS.match(raw) or len(raw) not in (8, 12, 13, 14):
        raise GS1Error("the Digital Link GTIN is not 8-14 digits", code="gtin_bad_length")
    gtin = gtin14(raw)
    attrs: list[tuple[str, str]] = []
    rest = segs[idx + 2 :]
    if len(rest) % 2:
        raise GS1Error("Digital Link path qualifiers come in pairs", code="dl_malformed")
    for key, value in zip(rest[::2], rest[1::2], strict=True):
        if key not in _DL_QUALIFIERS:
            raise GS1Error(f"({key}) is not a Digital Link key qualifier", code="dl_malformed")
        attrs.append((key, value))
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if _DIGITS.match(key) and 2 <= len(key) <= 4:
            attrs.append((key, value))
    _validated([("01", gtin), *attrs])
    return DigitalLink(gtin=gtin, attributes=attrs)
