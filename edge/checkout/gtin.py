"""Checkout's view of GS1 codes: the scanning domain's GS1 module, with checkout's error codes.

The rules (check digits, variable-measure layout, which prefixes carry grams or a price) live
in edge/scanning/gs1.py and the `scanning` config section; this adapter only names the errors
the kiosk shows (`invalid_gtin`, `bad_check_digit`) and builds scale labels for the demo.
"""

from __future__ import annotations

from edge.platform import gs1
from edge.platform.errors import InvalidInput
from edge.platform.gs1 import VariableMeasure, check_digit
from edge.scanning.settings import ScanningSettings

__all__ = ["VariableMeasure", "check_digit", "is_valid", "normalise", "variable_code", "variable_measure"]


def normalise(code: str) -> str:
    """GTIN-8/12/13/14 -> GTIN-14; raises InvalidInput `invalid_gtin` or `bad_check_digit`."""
    text = (code or "").strip() if isinstance(code, str) else ""
    try:
        return gs1.gtin14(text)
    except gs1.GS1Error as exc:
        if exc.code == "gtin_bad_check_digit":
            raise InvalidInput(
                "the product code's check digit is wrong; scan or type it again", code="bad_check_digit"
            ) from None
        raise InvalidInput("a product code is 8, 12, 13 or 14 digits", code="invalid_gtin") from None


def is_valid(code: str) -> bool:
    return gs1.is_valid_gtin(code)


def variable_measure(gtin14: str, scanning: ScanningSettings) -> VariableMeasure | None:
    """A weighed/priced in-store code per the store's configured layout; None for ordinary GTINs."""
    vm = gs1.variable_measure(gtin14, scanning.variable_measure_prefixes, scanning.variable_measure_weight_prefixes)
    if vm is None:
        return None
    return VariableMeasure(vm.prefix, vm.item_reference, vm.kind, vm.value, vm.lookup_gtin.zfill(14))


def variable_code(item_gtin13: str, value: int) -> str:
    """The EAN-13 a scale prints for this catalog item (value zeroed in the catalog) and value."""
    if not 0 <= value <= 99999:
        raise ValueError("value must fit five digits")
    body = item_gtin13[:7] + f"{value:05d}"
    return body + check_digit(body)
