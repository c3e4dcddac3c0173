"""What a camera reads off a page: the QR codes in a screenshot."""

from __future__ import annotations

import cv2
import numpy as np
import zxingcpp


def qr_texts(png: bytes) -> list[str]:
    """The QR codes in a PNG screenshot, QR only: a linear format scanned over a QR's modules can
    read as a false code (a likely cause of one failed read of an exit pass in CI)."""
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    return [r.text for r in zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))]
