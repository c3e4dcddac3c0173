"""What a product code means at a till, parsed once where it was read (scanning or a typed entry):
the item to look up, a weight or price it carries, its AIs (lot, dates) and how a cart tells
two packs apart. The code-level rules (check digits, element strings, dates) are in gs1.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from edge.platform.errors import InvalidInput
from edge.platform.gs1 import (
    GS1Error,
    decimal_value,
    gtin14,
    normalise_gtin,
    parse_date,
    parse_element_string,
    variable_measure,
)


@dataclass(frozen=True)
class Layout:
    """The store's in-store numbering: EAN-13 prefixes that carry a value, and which of them
    carry grams (the others a price in minor units). Countries differ, so it comes from config."""

    prefixes: tuple[str, ...] = ()
    weight_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    """What a product code says, parsed once where it was read (scanning or a typed entry) and
    handed on as is: nobody downstream parses the text again."""

    gtin: str  # GTIN-14 of the code itself
    lookup_gtin: str  # how the catalog lists the item: a variable-measure code's value zeroed
    measure: str = ""  # "" | "weight" (grams) | "price" (minor units)
    value: int = 0
    ais: tuple[tuple[str, str], ...] = ()  # further Application Identifiers, e.g. (("10", "LOT1"),)
    measured_by_ai: bool = False  # the value came in an AI (310n, 392n), not inside the GTIN

    @property
    def line_key(self) -> str:
        """What tells two scans apart in a cart: the code itself; for a value carried in an AI
        (DataBar Expanded, GS1-128) the GTIN is the same on every pack, so its value joins it
        and two packs of different weights are two lines; so does a use-by date (AI 17), since
        a pack near its date is priced apart."""
        key = self.gtin
        if self.measured_by_ai:
            key += f"{'w' if self.measure == 'weight' else 'p'}{self.value}"
        expiry = self.ai("17")
        return key + f"e{expiry}" if expiry else key

    def ai(self, ai: str) -> str | None:
        """The value of one Application Identifier the code carried, if any."""
        return next((v for a, v in self.ais if a == ai), None)

    @property
    def expiry(self) -> date | None:
        """The use-by / expiry date (AI 17), already validated where the code was read."""
        value = self.ai("17")
        return parse_date(value) if value else None


def facts(gtin: str, layout: Layout = Layout(), ais: tuple[tuple[str, str], ...] = ()) -> Facts:
    """Facts of a verified GTIN-14 (and any AIs that came with it) under the store's layout."""
    full = gtin14(gtin)
    vm = variable_measure(full, list(layout.prefixes), list(layout.weight_prefixes)) if layout.prefixes else None
    if vm is None:
        return Facts(full, full, ais=ais)
    return Facts(full, vm.lookup_gtin.zfill(14), vm.kind, vm.value, ais)


def ai_facts(gtin: str, ais: tuple[tuple[str, str], ...]) -> Facts:
    """Facts of an element string (GS1-128, DataMatrix, DataBar, Digital Link): a variable-measure
    item (GTIN-14 indicator digit 9) carries its price payable (392n, the store currency's minor
    units, two decimals) or its net weight (310n, kg) in AIs. The price wins when both are there:
    the scale computed it. On a fixed-measure pack those AIs are information only."""
    full = gtin14(gtin)
    if not full.startswith("9"):  # a fixed-measure pack: a net weight on it is information, not its price
        return Facts(full, full, ais=ais)
    found = dict(ais)
    for prefix, kind, unit_decimals in (("392", "price", 2), ("310", "weight", 3)):
        ai = next((a for a in found if a.startswith(prefix) and len(a) == 4), None)
        if ai is None:
            continue
        number, decimals = decimal_value(ai, found[ai])
        shift = unit_decimals - decimals
        if shift >= 0:
            value = number * 10**shift
        elif kind == "weight":  # finer than a gram: rounded half up to the gram
            value = (number + 10 ** (-shift) // 2) // 10 ** (-shift)
        elif number % 10 ** (-shift):
            raise GS1Error(f"AI ({ai}) gives a price finer than the currency's minor unit", code="gs1_bad_price")
        else:
            value = number // 10 ** (-shift)
        return Facts(full, full, kind, value, ais, measured_by_ai=True)
    return Facts(full, full, ais=ais)


def typed_facts(text: str, layout: Layout = Layout()) -> Facts:
    """Facts of a code a person typed: a GTIN (`normalise_gtin`'s errors for a mistyped one), or
    the line printed under a GS1 label, `(01)...(17)...(10)...`, keyed in when the label will not
    scan: its use-by date and lot are then checked as if it had been scanned, where the GTIN alone
    carries no date (InvalidInput `bad_gs1_text` otherwise). A weighed item's weight or price is
    not taken from a keyboard (`typed_measure`): anyone could type a price of 0.01."""
    line = text.strip() if isinstance(text, str) else ""
    if not line.startswith("("):
        return facts(normalise_gtin(text), layout)
    try:
        pairs = parse_element_string(line.replace(" ", ""))  # printed with spaces; no AI value holds one
        gtin = next((v for a, v in pairs if a == "01"), None)
        if gtin is None:
            raise GS1Error("the label line has no (01) GTIN", code="gs1_no_gtin")
        found = ai_facts(gtin, tuple(pairs))
    except GS1Error as exc:
        raise InvalidInput(
            f"that label line does not read as GS1 ({exc}); type it as printed, starting with (01)",
            code="bad_gs1_text",
            details={"reason": exc.code},
        ) from None
    if found.measured_by_ai:
        raise InvalidInput(
            "a weighed item's weight or price is read from its label, not typed; ask a member of staff",
            code="typed_measure",
        )
    return found
