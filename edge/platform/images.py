"""Uploaded images are hostile: bounded size, JPEG/PNG/WebP only, dimensions checked before decoding.

Shared by face-pay (enrolment and verification uploads) and scanning (the frames a shopper's
phone sends).

Decoding happens in memory only (cv2.imdecode on the bytes); nothing is written anywhere. A
baseline JPEG larger than the pixel cap is decoded reduced (libjpeg's DCT scaling by 2, 4 or 8:
it works one row of blocks at a time, so only the small frame is ever allocated). A progressive
JPEG is not: libjpeg keeps every coefficient of the full-size image in memory until the last
scan (a 1.5 MB file declaring 16000x16000 took the daemon from 400 MiB to 1.15 GiB), so it is
decoded reduced only up to WHOLE_FRAME_MAX_PIXELS at full size (a phone photo; at most ~96 MB of
coefficients) and refused (413) from its header beyond. A PNG or a WebP (which OpenCV decodes at
full size before shrinking) must fit the cap at its full size. `LazyFrames` checks every upload up front but
decodes one frame at a time, so one request never holds more than one frame.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Iterator

import cv2
import numpy as np

from edge.platform.errors import EdgeError, InvalidInput, Unprocessable

_REDUCED = (
    (1, cv2.IMREAD_COLOR),
    (2, cv2.IMREAD_REDUCED_COLOR_2),
    (4, cv2.IMREAD_REDUCED_COLOR_4),
    (8, cv2.IMREAD_REDUCED_COLOR_8),
)

_GRAY = {
    cv2.IMREAD_COLOR: cv2.IMREAD_GRAYSCALE,
    cv2.IMREAD_REDUCED_COLOR_2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    cv2.IMREAD_REDUCED_COLOR_4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    cv2.IMREAD_REDUCED_COLOR_8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}

# A progressive JPEG's decoder holds 2 bytes per coefficient of the full image: 16 MP (a 4608x3456
# phone photo) is 48 MB with 4:2:0 chroma, 96 MB with 4:4:4. Beyond that it is refused.
WHOLE_FRAME_MAX_PIXELS = 16_000_000


class TooLarge(EdgeError):
    """413: the upload (or the whole request) is bigger than this box accepts."""

    status = 413
    code = "image_too_large"


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Frames whose decoder holds the whole image's coefficients (progressive, lossless, hierarchical):
# only SOF0 and SOF1 (baseline and extended sequential, Huffman) decode a row of blocks at a time.
_WHOLE_FRAME_SOF = _SOF - {0xC0, 0xC1}


def _jpeg_size(data: bytes) -> tuple[int, int, bool] | None:
    """(width, height, decodes-reduced-cheaply) from the first frame header."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF and i + 9 <= len(data):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h, marker not in _WHOLE_FRAME_SOF
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def image_size(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) from the header alone; Unprocessable if not JPEG, PNG or WebP.
    The format is "jpeg" only for a JPEG that libjpeg can decode reduced without holding the
    full-size image ("jpeg-progressive" otherwise)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return "png", w, h
    if data[:2] == b"\xff\xd8":
        size = _jpeg_size(data)
        if size is None:
            raise Unprocessable("the JPEG header is damaged", code="image_undecodable")
        return ("jpeg" if size[2] else "jpeg-progressive"), size[0], size[1]
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        webp = _webp_size(data)
        if webp is None:
            raise Unprocessable("the WebP header is damaged", code="image_undecodable")
        return "webp", webp[0], webp[1]
    raise Unprocessable("only JPEG, PNG and WebP images are accepted", code="image_unsupported")


def _scale_for(fmt: str, w: int, h: int, max_pixels: int) -> tuple[int, int]:
    """(factor, cv2 flag) so the decoded frame fits the pixel cap; TooLarge when it cannot."""
    if w <= 0 or h <= 0:
        raise Unprocessable("the image header gives no size", code="image_undecodable")
    reducible = fmt == "jpeg" or (fmt == "jpeg-progressive" and w * h <= WHOLE_FRAME_MAX_PIXELS)
    for factor, flag in _REDUCED if reducible else _REDUCED[:1]:
        if -(-w // factor) * -(-h // factor) <= max_pixels:
            return factor, flag
    limits = {"jpeg": max_pixels * 64, "jpeg-progressive": max(max_pixels, WHOLE_FRAME_MAX_PIXELS)}
    limit = limits.get(fmt, max_pixels)
    raise TooLarge(
        f"the image is {w}x{h}; at most {limit} pixels are accepted for this format",
        details={"width": w, "height": h, "max_pixels": limit},
    )


def check_image(data: bytes, *, max_bytes: int, max_pixels: int) -> int:
    """Validate untrusted bytes from the header alone; returns the cv2 imread flag to decode with."""
    if not data:
        raise InvalidInput("the image is empty", code="image_empty")
    if len(data) > max_bytes:
        raise TooLarge(f"the image is larger than {max_bytes} bytes", details={"max_bytes": max_bytes})
    fmt, w, h = image_size(data)
    return _scale_for(fmt, w, h, max_pixels)[1]


def _decode(data: bytes, flag: int) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    if img is None or img.size == 0:
        raise Unprocessable("the image cannot be decoded", code="image_undecodable")
    return img


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int, gray: bool = False) -> np.ndarray:
    """A BGR (or grayscale) array of at most `max_pixels` from untrusted bytes, or a typed 4xx error."""
    flag = check_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    return _decode(data, _GRAY[flag] if gray else flag)


def b64_bytes(text: str, *, max_bytes: int) -> bytes:
    """The raw bytes of a base64 image (a data: URL is fine), bounded before decoding."""
    if "," in text[:64] and text.startswith("data:"):
        text = text.split(",", 1)[1]
    if len(text) > max_bytes * 4 // 3 + 8:
        raise TooLarge(f"the image is larger than {max_bytes} bytes", details={"max_bytes": max_bytes})
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("the image is not valid base64", code="image_bad_base64") from exc


def decode_b64(text: str, *, max_bytes: int, max_pixels: int) -> np.ndarray:
    return decode_image(b64_bytes(text, max_bytes=max_bytes), max_bytes=max_bytes, max_pixels=max_pixels)


class LazyFrames:
    """Uploaded images, all checked now (size, format, dimensions), decoded one at a time on iteration.

    Only compressed bytes are held; iterating yields one decoded frame per step and keeps no
    reference to it, so a caller that drops each frame before the next holds one at a time.
    """

    def __init__(self, images: list[bytes], *, max_bytes: int, max_pixels: int) -> None:
        self._items = [(data, check_image(data, max_bytes=max_bytes, max_pixels=max_pixels)) for data in images]

    @classmethod
    def from_b64(cls, texts: list[str], *, max_bytes: int, max_pixels: int) -> LazyFrames:
        raws = [b64_bytes(t, max_bytes=max_bytes) for t in texts]
        return cls(raws, max_bytes=max_bytes, max_pixels=max_pixels)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[np.ndarray]:
        for data, flag in self._items:
            yield _decode(data, flag)
