"""GS1 DataBar at the kiosk camera: labels rendered with zxing-cpp's encoder, read by the real
decoder strategy, added through the camera path; DataBar Expanded weight and price labels price
their line like the scale's EAN-13 labels, and two packs of different weights are two lines."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import zxingcpp

from edge.checkout.catalog import import_products
from edge.checkout.service import CheckoutServices
from edge.platform import gs1
from edge.platform.timeutil import store_today
from edge.scanning.component import make_strategy
from edge.scanning.settings import ScanningSettings
from tests.support.inproc import device_headers, running_app

CHICKEN = "9" + "695000000123"  # GTIN-14 of a variable-measure item (indicator digit 9), priced per kg
CHICKEN += gs1.check_digit(CHICKEN)
EGGS = "0" + "695000000456"  # a fixed-price item on a DataBar Omnidirectional label
EGGS += gs1.check_digit(EGGS)
# a month ahead of the store's today: no last-day markdown and not expired, whatever the run's date
USE_BY = (store_today("Asia/Shanghai") + timedelta(days=30)).strftime("%y%m%d")  # tests/support/inproc.py's zone


def label(fmt: zxingcpp.BarcodeFormat, text: str) -> np.ndarray:
    """A printed label as the camera sees it: the symbol with a white margin, in BGR."""
    symbol = np.array(zxingcpp.create_barcode(text, fmt).to_image(scale=3))
    framed = cv2.copyMakeBorder(symbol, 60, 60, 60, 60, cv2.BORDER_CONSTANT, value=255)
    return cv2.cvtColor(framed, cv2.COLOR_GRAY2BGR)


def test_databar_labels_reach_the_cart_with_their_weight_and_price(tmp_path: Path) -> None:
    strategy = make_strategy(ScanningSettings())
    F = zxingcpp.BarcodeFormat
    labels = {
        "light": label(F.DataBarExp, f"(01){CHICKEN}(3103)000750"),
        "heavy": label(F.DataBarExpStk, f"(01){CHICKEN}(3103)001200(17){USE_BY}(10)LOT42"),
        "priced": label(F.DataBarExp, f"(01){CHICKEN}(3922)1299"),
        "eggs": label(F.DataBar, f"(01){EGGS}"),
        "eggs-limited": label(F.DataBarLtd, f"(01){EGGS}"),
    }
    read = {}
    for name, image in labels.items():
        codes = strategy.decode(image).codes
        assert [c.symbology for c in codes] == ["DataBar"], (name, codes)
        read[name] = codes[0]
    assert read["heavy"].facts is not None and ("10", "LOT42") in read["heavy"].facts.ais
    with running_app(tmp_path / "data") as (client, daemon):
        rows = [
            {"gtin": CHICKEN, "name": "Chicken thighs (per kg)", "price_minor": 3990, "weighed": True},
            {"gtin": EGGS, "name": "Free-range eggs", "price_minor": 1850},
        ]
        assert import_products(daemon.ctx.store, rows).accepted == 2
        kiosk = device_headers(daemon, "kiosk-1", "kiosk")
        sid = client.post("/api/kiosk/sessions", json={}, headers=kiosk).json()["session_id"]
        checkout = daemon.ctx.own(CheckoutServices)
        for name in ("light", "heavy", "priced", "eggs", "eggs-limited"):
            checkout.on_kiosk_scan("kiosk-1", read[name].text, read[name].facts)
        cart = client.get(f"/api/kiosk/sessions/{sid}", headers=kiosk).json()
    lines = {(ln["name"], ln["gross_minor"], ln["qty"]) for ln in cart["lines"]}
    assert lines == {
        ("Chicken thighs (per kg)", 2993, 1),  # 0.750 kg at 39.90/kg, half up
        ("Chicken thighs (per kg)", 4788, 1),  # 1.200 kg: another pack, another line
        ("Chicken thighs (per kg)", 1299, 1),  # the price the scale printed
        ("Free-range eggs", 3700, 2),  # Omnidirectional and Limited labels of one item: one line
    }, cart["lines"]
    assert cart["total_minor"] == 2993 + 4788 + 1299 + 3700
