"""Codes seen tilted: stacked GS1 DataBar (fresh food) and long Code 128 are read once their bars
are stood upright, and a stretch of a tilted, short EAN-13 that zxing-cpp reads as another valid
code is vetoed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import zxingcpp
from prometheus_client import REGISTRY

from edge.platform import gs1
from edge.scanning import decoders
from edge.scanning.strategy import Strategy
from tests.support.labels import kiosk_events, softlabels

GTIN = "9695000000123" + gs1.check_digit("9695000000123")  # a variable-measure GTIN-14


def turned(gray: np.ndarray, degrees: float, background: int = 255) -> np.ndarray:
    """`gray` turned on its own canvas, as a camera sees a pack put down at an angle."""
    h, w = gray.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(gray, m, (w, h), borderValue=background)


def stacked(scale: int, degrees: float) -> np.ndarray:
    symbol = np.array(zxingcpp.create_barcode(f"(01){GTIN}", zxingcpp.BarcodeFormat.DataBarStk).to_image(scale=scale))
    padded = cv2.copyMakeBorder(symbol, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
    return cv2.GaussianBlur(turned(padded, degrees), (3, 3), 0.8)


@pytest.mark.parametrize("degrees", [-30.0, -12.0, -5.0, 5.0, 12.0, 30.0])
def test_bar_angle_is_the_turn_that_stands_the_bars_upright(degrees: float) -> None:
    label = softlabels.soft_label("4006381333931", 2.2, 0.6, 0.0, height=120)
    gray = turned(cv2.copyMakeBorder(label, 80, 80, 40, 40, cv2.BORDER_CONSTANT, value=230), degrees, 230)
    angle = decoders.bar_angle(gray)
    assert angle is not None and abs(angle + degrees) < 1.5
    upright, _ = decoders.rotate(gray, angle)
    level = decoders.bar_angle(upright)
    assert level is not None and abs(level) < 1.0


def test_bar_angle_of_a_blank_image_is_none() -> None:
    assert decoders.bar_angle(np.full((240, 320), 200, np.uint8)) is None


@pytest.mark.parametrize(("scale", "degrees"), [(2, 8.0), (3, 8.0), (2, -12.0), (5, 20.0)])
def test_stacked_databar_a_few_degrees_off_level_is_read(scale: int, degrees: float) -> None:
    gray = stacked(scale, degrees)
    # The premise: zxing-cpp reads DataBar Stacked only close to level (its rows are a few modules high).
    assert not decoders.read_zxing(gray, decoders.zxing_formats(["DataBar"]))
    outcome = Strategy().decode(gray)
    assert [(c.symbology, c.gtin) for c in outcome.codes] == [("DataBar", GTIN)]
    assert outcome.passes[-1] == "zxing_deskewed"


def test_a_level_code_costs_the_deskewed_pass_nothing() -> None:
    gray = stacked(3, 0.0)
    angle = decoders.bar_angle(gray)
    assert angle is not None and abs(angle) < decoders.DESKEW_MIN_DEGREES
    assert dict(Strategy().fallbacks)["zxing_deskewed"](gray) == []


def short_tilted_ean13() -> np.ndarray:
    """A short EAN-13 label (bars 24 modules high) at 16 degrees: a row crossing it from its top
    edge to its bottom one sees no quiet zone (one of 300 random labels of the kind)."""
    label = softlabels.soft_label("4309254518160", 2.51, 0.53, 0.08, seed=192)
    return turned(cv2.copyMakeBorder(label, 60, 60, 30, 30, cv2.BORDER_CONSTANT, value=230), 16.2, 230)


def test_a_stretch_of_a_tilted_ean13_read_as_a_upce_is_vetoed() -> None:
    gray = short_tilted_ean13()
    # The premise: zxing-cpp alone reads a valid UPC-E there, at either size.
    alone = [(r.format, r.text) for r in zxingcpp.read_barcodes(gray)]
    assert alone == [(zxingcpp.BarcodeFormat.UPCE, "0130920000054")]
    assert [r.text for r in decoders.read_zxing(decoders.upscale(gray), decoders.zxing_formats(["UPC-E"]))] == [
        "13092544"
    ]
    strategy = Strategy()
    fast = strategy._validated(strategy._zx(gray))
    assert [c.symbology for c in fast] == ["UPC-E"]
    assert not strategy.vouch(gray, fast[0])
    vetoed = REGISTRY.get_sample_value("edge_scanning_conflicts_total", {"outcome": "vetoed"}) or 0.0
    assert not strategy.vouch(gray, fast[0], live=True)  # the same on a camera, within its budget
    assert REGISTRY.get_sample_value("edge_scanning_conflicts_total", {"outcome": "vetoed"}) == vetoed + 1
    # No other pass reads this label, and a kiosk camera's fast pass keeps reading the stretch:
    # nothing is confirmed at this pose. A miss (the shopper turns the pack), not a wrong item.
    assert strategy.decode(gray).codes == []
    assert kiosk_events(gray, strategy) == []


def test_a_tilted_upce_still_stands() -> None:
    symbol = np.array(zxingcpp.create_barcode("04124498", zxingcpp.BarcodeFormat.UPCE).to_image(scale=3))
    gray = turned(cv2.copyMakeBorder(symbol, 80, 80, 60, 60, cv2.BORDER_CONSTANT, value=255), 15.0)
    strategy = Strategy()
    code = strategy._validated(strategy._zx(gray))[0]
    assert strategy.vouch(gray, code)
    assert [(c.symbology, c.text) for c in strategy.decode(gray).codes] == [("UPC-E", "04124498")]


def test_a_long_code_128_label_at_twenty_degrees_is_read() -> None:
    """A long Code 128 label (a GS1-128 fresh-food label's length) is many times longer than its
    bars: at 20 degrees no row crosses it whole, and only the upright pass reads it."""
    text = f"01{GTIN}3103001250172612311OLOT42"
    symbol = np.array(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.Code128).to_image(scale=2))
    short = cv2.resize(symbol, (symbol.shape[1], 30), interpolation=cv2.INTER_AREA)
    gray = turned(cv2.copyMakeBorder(short, 160, 160, 40, 40, cv2.BORDER_CONSTANT, value=255), 20.0)
    assert not decoders.read_zxing(gray, decoders.zxing_formats(["Code128"]))
    outcome = Strategy().decode(gray)
    assert [(c.symbology, c.text) for c in outcome.codes] == [("Code128", text)]
    assert outcome.passes[-1] == "zxing_deskewed"


def test_an_ean13_is_not_read_by_the_upright_pass() -> None:
    """Turned upright, EAN/UPC read no more photos a cross-validation kept (docs/scanning.md)."""
    label = softlabels.soft_label("4006381333931", 2.2, 0.6, 0.0, height=120)
    gray = turned(cv2.copyMakeBorder(label, 80, 80, 40, 40, cv2.BORDER_CONSTANT, value=230), 12.0, 230)
    assert dict(Strategy().fallbacks)["zxing_deskewed"](gray) == []


@pytest.mark.parametrize("shape", [(1, 5000), (5000, 1), (3, 5000), (5000, 3), (2, 2), (0, 10)])
def test_slivers_have_no_bar_angle_and_cost_no_frame(shape: tuple[int, int]) -> None:
    gray = np.full(shape, 128, np.uint8)
    assert decoders.bar_angle(gray) is None
    if gray.size:
        assert Strategy().decode(gray).codes == []


def test_a_look_that_raises_is_no_witness_and_loses_nothing() -> None:
    gray = short_tilted_ean13()
    strategy = Strategy()
    code = strategy._validated(strategy._zx(gray))[0]

    def broken(_gray: np.ndarray, _code: object) -> list[decoders.RawRead]:
        raise ValueError("a decoder failed")

    strategy.witness._looks = lambda _code: [broken]  # type: ignore[method-assign,assignment]
    assert strategy.vouch(gray, code, live=True)  # stands, as an unwitnessed code does
