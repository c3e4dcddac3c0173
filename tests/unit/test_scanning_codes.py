"""From a decoded image to the code a cart sees: variable-measure weight and price, check-digit
refusal, arbitration of two different retail codes in one frame, GS1-128 and GS1 DataMatrix
labels and Digital Link QR codes, all through the strategy (and, for weighed goods, the
ScanEvent a kiosk receives). Labels are rendered by zxing-cpp's own encoder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import segno
import zxingcpp

from edge.cameras.contract import CameraInfo
from edge.platform import gs1
from edge.scanning import decoders as dec
from edge.scanning.codes import REFUSED, validate
from edge.scanning.component import make_processor
from edge.scanning.decoders import RawRead
from edge.scanning.events import ScanEvent
from edge.scanning.settings import MotionSettings, ScanningSettings
from edge.scanning.strategy import Strategy
from edge.scanning.witness import CONFLICTS


def label(fmt: zxingcpp.BarcodeFormat, text: str, *, gs1_: bool = False, scale: int = 3) -> np.ndarray:
    """A clean rendered label with a white margin, as a grayscale image."""
    img = np.array(zxingcpp.create_barcode(text, fmt, gs1=gs1_).to_image(scale=scale), dtype=np.uint8)
    return cv2.copyMakeBorder(img, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)


def ean13(body12: str) -> str:
    return body12 + gs1.check_digit(body12)


def kiosk_events(image: np.ndarray, settings: ScanningSettings) -> list[ScanEvent]:
    """The ScanEvents a kiosk camera built as the daemon builds it emits for this image held still."""
    cam = CameraInfo(id="k-cam", role="kiosk", target="kiosk-1")
    proc = make_processor(settings, cam)
    frame = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return [e for t in (0.0, 0.1, 0.2) for e in proc.process(frame, t)]


@pytest.mark.parametrize(
    ("body", "kind", "value"),
    [("211234500599", "price", 599), ("281234501250", "weight", 1250)],
    ids=["price-prefix-21", "weight-prefix-28"],
)
def test_variable_measure_event_says_weight_or_price(body: str, kind: str, value: int) -> None:
    code = ean13(body)
    settings = ScanningSettings(motion=MotionSettings(enabled=False))  # default prefixes: 20-29, weight 28/29
    (event,) = kiosk_events(label(zxingcpp.BarcodeFormat.EAN13, code), settings)
    facts = event.gs1
    assert facts is not None and event.gtin == facts.gtin == "0" + code
    assert (facts.measure, facts.value) == (kind, value)  # the facts checkout uses as they are
    lookup = body[:7] + "00000"
    assert facts.lookup_gtin == "0" + lookup + gs1.check_digit(lookup)


def test_weight_prefixes_come_from_the_config() -> None:
    """A country where 28 is a price prefix: the same label then carries a price."""
    code = ean13("281234501250")
    settings = ScanningSettings(motion=MotionSettings(enabled=False), variable_measure_weight_prefixes=["29"])
    (event,) = kiosk_events(label(zxingcpp.BarcodeFormat.EAN13, code), settings)
    assert event.gs1 is not None and (event.gs1.measure, event.gs1.value) == ("price", 1250)


def _count(counter: object, *labels: str) -> float:
    return counter.labels(*labels)._value.get()  # type: ignore[attr-defined, no-any-return]


def test_a_bad_check_digit_is_refused_and_counted() -> None:
    bad = "4006381333932"  # 4006381333931 with its check digit changed
    before = _count(REFUSED, "EAN-13", "gtin_bad_check_digit")
    assert validate(RawRead("EAN-13", bad, bad.encode(), "zxing", False, (0, 0, 10, 10))) is None
    assert _count(REFUSED, "EAN-13", "gtin_bad_check_digit") == before + 1


def test_the_strategy_never_returns_a_refused_code(monkeypatch: pytest.MonkeyPatch) -> None:
    strategy = Strategy(use_zbar=False)
    bad = RawRead("UPC-A", "036000291453", b"", "zxing", False, (0, 0, 10, 10))
    monkeypatch.setattr(strategy, "_zx", lambda g, scale=1.0: [bad])
    before = _count(REFUSED, "UPC-A", "gtin_bad_check_digit")
    assert strategy.decode(np.full((60, 80), 255, np.uint8), max_fallbacks=0).codes == []
    assert _count(REFUSED, "UPC-A", "gtin_bad_check_digit") == before + 1


def test_two_different_eans_in_one_frame_keep_only_the_confirmed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast pass returns the real EAN plus a valid-checksum ghost beside it (as decoders
    sometimes do). pyzbar, the witness, reads the real one in its area and nothing at the ghost's."""
    real = ean13("400638133393")
    img = np.full((300, 900), 255, np.uint8)
    sym = label(zxingcpp.BarcodeFormat.EAN13, real)
    img[20 : 20 + sym.shape[0], 20 : 20 + sym.shape[1]] = sym
    strategy = Strategy()
    assert strategy.use_zbar, "pyzbar (libzbar0) is needed as the witness"
    (true_read,) = dec.read_zxing(img, strategy.formats)
    ghost = RawRead("EAN-13", ean13("590123412345"), b"", "zxing", False, (650, 60, 850, 200))
    real_zx = strategy._zx

    def fast_pass(gray: np.ndarray, scale: float = 1.0) -> list[RawRead]:
        return [true_read, ghost] if gray.shape == img.shape else real_zx(gray, scale)

    monkeypatch.setattr(strategy, "_zx", fast_pass)
    dropped, confirmed = _count(CONFLICTS, "dropped"), _count(CONFLICTS, "confirmed")
    out = strategy.decode(img)
    assert [c.gtin for c in out.codes] == ["0" + real]
    assert out.codes[0].decoders == {"zxing", "zbar"}  # the witness is recorded
    assert out.conflicts == 1 and out.passes == ["zxing"]
    assert _count(CONFLICTS, "dropped") == dropped + 1
    assert _count(CONFLICTS, "confirmed") == confirmed + 1


def test_gs1_128_label_gives_gtin_batch_and_expiry() -> None:
    img = label(zxingcpp.BarcodeFormat.Code128, "(01)09506000134352(17)261231(10)ABC123", gs1_=True)
    (code,) = Strategy().decode(img).codes
    assert (code.symbology, code.gtin) == ("Code128", "09506000134352")
    attrs = dict(code.attributes)
    assert attrs["10"] == "ABC123"
    assert attrs["17"] == "261231" and gs1.parse_date(attrs["17"]).isoformat() == "2026-12-31"


def test_gs1_datamatrix_label_with_weight_and_price() -> None:
    text = "(01)09506000134352(10)LOT7(3103)001250(3922)599(21)S1"
    (code,) = Strategy().decode(label(zxingcpp.BarcodeFormat.DataMatrix, text, gs1_=True)).codes
    assert (code.symbology, code.gtin) == ("DataMatrix", "09506000134352")
    attrs = dict(code.attributes)
    assert (attrs["10"], attrs["21"]) == ("LOT7", "S1")
    assert gs1.decimal_value("3103", attrs["3103"]) == (1250, 3)  # 1.250 kg
    assert gs1.decimal_value("3922", attrs["3922"]) == (599, 2)  # 5.99


def test_a_code128_that_is_not_gs1_has_no_gtin() -> None:
    (code,) = Strategy().decode(label(zxingcpp.BarcodeFormat.Code128, "0109506000134352")).codes
    assert code.text == "0109506000134352" and code.gtin is None  # digits alone do not make an item


def _qr(payload: str) -> np.ndarray:
    qr = segno.make(payload, error="m", micro=False)
    rows = np.array([[0 if m else 255 for m in row] for row in qr.matrix], np.uint8)
    img = cv2.resize(rows, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
    return cv2.copyMakeBorder(img, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)


@pytest.mark.parametrize(
    ("url", "attributes"),
    [
        ("https://id.example.com/gtin/09506000134352/10/ABC?17=261231", (("10", "ABC"), ("17", "261231"))),
        ("HTTPS://shop.example/p/gtin/9506000134352", ()),
        ("https://id.example.com/01/09506000134352", ()),
    ],
    ids=["gtin-alias", "gtin-alias-13-digits", "01"],
)
def test_digital_link_qr_with_either_primary_key(url: str, attributes: tuple[tuple[str, str], ...]) -> None:
    (code,) = Strategy().decode(_qr(url)).codes
    assert (code.text, code.gtin, code.attributes) == (url, "09506000134352", attributes)


def test_an_ordinary_url_qr_is_carried_without_a_gtin() -> None:
    before = _count(REFUSED, "QRCode", "dl_no_gtin")
    (code,) = Strategy().decode(_qr("https://shop.example/offers/01?gtin=1")).codes
    assert code.gtin is None and code.attributes == ()
    assert _count(REFUSED, "QRCode", "dl_no_gtin") == before  # not a Digital Link: nothing refused
