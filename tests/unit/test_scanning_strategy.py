"""The decoder ensemble on a fixed sample of the shared real images (every symbology), plus GS1
DataMatrix, Digital Link QR and a decoder that raises."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import segno
import zxingcpp

from edge.scanning import decoders
from edge.scanning.evaluation import Item, load, measure, run_ours, run_zbar, run_zxing
from edge.scanning.strategy import Strategy
from tests.conftest import shared_path

SYMBOLOGIES = ["Code 128", "DataMatrix", "EAN-13", "EAN-8", "QR Code", "UPC-A", "UPC-E"]


@pytest.fixture(scope="module")
def strategy() -> Strategy:
    return Strategy()


@pytest.fixture(scope="module")
def sample() -> list[Item]:
    """Every 7th image of each symbology, in manifest order (chosen by position, never by outcome)."""

    def pick(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return [r for sym in SYMBOLOGIES for r in [r for r in rows if r["symbology"] == sym][::7]]

    return load(shared_path("data/barcodes/manifest.csv"), pick)


def test_sample_covers_every_symbology(sample: list[Item]) -> None:
    assert {i.symbology for i in sample} == set(SYMBOLOGIES)
    assert all(i.gray is not None for i in sample)


def _num(row: dict[str, object], key: str) -> float:
    """A count or rate from a `measure` row (whose values are typed `object`)."""
    value = row[key]
    assert isinstance(value, int | float), (key, value)
    return value


def _gray(rel: str) -> np.ndarray:
    path = shared_path(rel)
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert img is not None, f"cv2.imread could not read {path}"
    return img


def test_ensemble_reads_more_than_each_decoder_and_misreads_no_more(sample: list[Item], strategy: Strategy) -> None:
    res = measure(sample, {"ours": run_ours(strategy), "zxing-cpp": run_zxing, "pyzbar": run_zbar})
    ours, zx, zb = res["ours"], res["zxing-cpp"], res["pyzbar"]
    assert _num(ours, "read") >= max(_num(zx, "read"), _num(zb, "read"), _num(res["union"], "read"))
    assert _num(ours, "wrong") <= min(_num(zx, "wrong"), _num(zb, "wrong"))
    by_sym = ours["by_symbology"]
    assert isinstance(by_sym, dict)
    for sym in SYMBOLOGIES:
        assert by_sym[sym] > 0, f"nothing of {sym} read"
    assert _num(ours, "read_rate") >= 85.0


def test_gs1_datamatrix_gives_gtin_and_attributes(strategy: Strategy) -> None:
    img = _gray("data/barcodes/images/zxing-cpp_datamatrix-3__794.png")
    (code,) = strategy.decode(img).codes
    assert code.symbology == "DataMatrix"
    assert code.gtin == "08903819987659"
    assert dict(code.attributes) == {
        "01": "08903819987659",
        "21": "S1ND6MPPFCGG6B869XES",
        "17": "310630",
        "10": "BNav4Cam2",
    }


def test_gs1_128_from_a_real_label_keeps_its_text(strategy: Strategy) -> None:
    img = _gray("data/barcodes/images/zxing_code128-1_5.png")
    (code,) = strategy.decode(img).codes
    assert code.symbology == "Code128"
    assert code.text == "8101054321120021123456"
    assert code.gtin is None  # AI 8101 is not a product id: nothing to add to a cart


def _qr(payload: str | bytes, scale: int = 4) -> np.ndarray:
    qr = segno.make(payload, error="m", micro=False)
    rows = np.array([[0 if m else 255 for m in row] for row in qr.matrix], np.uint8)
    img = cv2.resize(rows, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    return cv2.copyMakeBorder(img, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)


def test_digital_link_qr(strategy: Strategy) -> None:
    url = "https://id.example.com/01/09506000134352/10/ABC?17=261231"
    (code,) = strategy.decode(_qr(url)).codes
    assert (code.symbology, code.text, code.gtin) == ("QRCode", url, "09506000134352")
    assert code.attributes == (("10", "ABC"), ("17", "261231"))


def test_a_raising_decoder_loses_nothing_else(strategy: Strategy, monkeypatch: pytest.MonkeyPatch) -> None:
    """pyzbar raises ValueError (ZBarOrientation) on some images: fault-injected here, since no
    image in the shared set triggers it with this libzbar."""
    from pyzbar import pyzbar

    def boom(*_a: object, **_k: object) -> list[object]:
        raise ValueError("ZBarOrientation")

    monkeypatch.setattr(pyzbar, "decode", boom)
    before = decoders.DECODER_ERRORS.labels("zbar")._value.get()
    assert decoders.read_zbar(np.full((50, 50), 255, np.uint8), ["EAN-13"]) == []
    assert decoders.DECODER_ERRORS.labels("zbar")._value.get() == before + 1
    out = strategy.decode(_qr("still read"))  # a full cascade (zbar passes included) keeps zxing's read
    assert [c.text for c in out.codes] == ["still read"]
    blank = strategy.decode(np.full((120, 160), 255, np.uint8))  # every fallback ran, none escaped
    assert blank.codes == [] and "zbar" in blank.passes


def test_odd_inputs_decode_to_nothing_without_raising(strategy: Strategy) -> None:
    for img in (np.zeros((0, 0), np.uint8), np.zeros((1, 69), np.uint8), np.zeros((5, 5, 4), np.uint8)):
        assert strategy.decode(img).codes == []


def test_a_upc_e_only_zxing_reads_keeps_its_printed_form(strategy: Strategy) -> None:
    """zxing-cpp 3 reports a UPC-E as its 13-digit UPC-A; the strategy keeps the printed 8 digits,
    so a pack zbar misses is still read (`upce-2_20`: only zxing-cpp at twice the size reads it)."""
    img = _gray("data/barcodes/images/zxing_upce-2_20.png")
    assert not decoders.read_zbar(img, ("UPC-E",))
    codes = strategy.decode(img).codes
    assert [(c.symbology, c.text, c.gtin13) for c in codes] == [("UPC-E", "04124498", "0041244000098")]
    rendered = np.asarray(zxing_label("04124498"))
    assert [r.text for r in decoders.read_zxing(rendered, decoders.zxing_formats(("UPC-E",)))] == ["04124498"]


def test_a_upc_e_misread_is_vetoed_and_a_later_pass_reads_what_is_printed(strategy: Strategy) -> None:
    """On `upce-2_14` zxing-cpp at native size reads 04904144, another valid UPC-E; its second
    look (zxing-cpp at twice the size) reads the printed 04963406, vetoes the first and the
    still goes on to the pass that reads it."""
    img = _gray("data/barcodes/images/zxing_upce-2_14.png")
    native = [r.text for r in decoders.read_zxing(img, decoders.zxing_formats(("UPC-E",)))]
    assert native == ["04904144"]
    outcome = strategy.decode(img)
    assert [c.text for c in outcome.codes] == ["04963406"]
    assert outcome.passes[:2] == ["zxing", "zbar"] and len(outcome.passes) > 2


def zxing_label(text: str) -> np.ndarray:
    img = np.asarray(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.UPCE).to_image(scale=4))
    return cv2.copyMakeBorder(img, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)


def test_a_code_beside_a_upc_e_is_no_witness_against_it(strategy: Strategy) -> None:
    """The second look reads the UPC-E's area, which may hold a QR or another pack: only a UPC-E
    overlapping the code can veto it. Here the second look cannot read the UPC-E at all (its bars
    are gone from the image it is shown) while a QR just beside it, in the area, reads well."""
    img = zxing_label("04124498")
    (code,) = [c for c in strategy._validated(strategy._zx(img)) if c.symbology == "UPC-E"]
    x0, y0, x1, y1 = code.box
    blank = np.full_like(img, 255)
    modules = np.asarray(segno.make("HELLO", micro=False).matrix, dtype=np.uint8)
    side = cv2.resize((255 - 255 * modules).astype(np.uint8), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    blank[y0 : y0 + side.shape[0], x1 + 12 : x1 + 12 + side.shape[1]] = side
    crop = blank[max(0, y0 - 100) : y1 + 100, max(0, x0 - 100) : x1 + 100]
    assert [r.symbology for r in decoders.read_zxing(dec_up(crop), decoders.zxing_formats(("QRCode",)))] == [
        "QRCode"
    ]  # the QR is read where the second look reads
    assert strategy.vouch(blank, replace(code, decoders=frozenset({"zxing"})))


def dec_up(gray: np.ndarray) -> np.ndarray:
    return decoders.upscale(gray, 2.0)
