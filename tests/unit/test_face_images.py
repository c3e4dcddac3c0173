"""Uploaded images are hostile: each bad kind gets its own typed error code, nothing crashes."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import cv2
import numpy as np
import pytest

from edge.platform.errors import EdgeError
from edge.platform.images import decode_b64, decode_image

LIMITS: dict[str, Any] = {"max_bytes": 200_000, "max_pixels": 4_000_000}


def _jpeg(w: int = 64, h: int = 48) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((h, w, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


def _png_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def test_a_good_jpeg_decodes() -> None:
    assert decode_image(_jpeg(), **LIMITS).shape == (48, 64, 3)
    assert decode_b64(base64.b64encode(_jpeg()).decode(), **LIMITS).shape == (48, 64, 3)
    assert decode_b64("data:image/jpeg;base64," + base64.b64encode(_jpeg()).decode(), **LIMITS).shape[0] == 48


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "image_empty"),
        (b"GIF89a....", "image_unsupported"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image_undecodable"),
        (_jpeg()[: len(_jpeg()) // 3], "image_undecodable"),
        (_png_header(60000, 60000), "image_too_large"),
        (b"\xff\xd8" + b"\x00" * 300_000, "image_too_large"),
    ],
)
def test_bad_uploads_get_typed_codes(data: bytes, code: str) -> None:
    with pytest.raises(EdgeError) as err:
        decode_image(data, **LIMITS)
    assert err.value.code == code
    assert 400 <= err.value.status < 500


def test_bad_base64_is_typed() -> None:
    with pytest.raises(EdgeError) as err:
        decode_b64("not base64 at all!!", **LIMITS)
    assert err.value.code == "image_bad_base64"


def _png(w: int, h: int) -> bytes:
    ok, buf = cv2.imencode(".png", np.full((h, w, 3), 90, np.uint8))
    assert ok
    return buf.tobytes()


def test_the_default_pixel_cap_is_about_4_megapixels() -> None:
    from edge.facepay.settings import FacepaySettings

    assert 3_500_000 <= FacepaySettings().max_upload_pixels <= 4_200_000


def test_a_jpeg_over_the_pixel_cap_is_decoded_reduced_never_at_full_size() -> None:
    data = _jpeg(4000, 3000)  # 12 MP, a phone photo
    import tracemalloc

    tracemalloc.start()
    try:
        img = decode_image(data, max_bytes=4_000_000, max_pixels=4_000_000)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert img.shape == (1500, 2000, 3)  # 1/2 each way: 3 MP
    assert peak < 4000 * 3000 * 3 // 2  # a full-size 36 MB frame never existed


def _jpeg_claiming(w: int, h: int) -> bytes:
    """A small real JPEG whose frame header claims another size (a decompression bomb's trick)."""
    data = bytearray(_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def test_png_over_the_cap_and_absurd_jpeg_sizes_are_refused_413() -> None:
    for data in (_png(2100, 2000), _png_header(60000, 60000), _jpeg_claiming(20000, 16000)):
        with pytest.raises(EdgeError) as err:
            decode_image(data, max_bytes=4_000_000, max_pixels=4_000_000)
        assert (err.value.status, err.value.code) == (413, "image_too_large")


def test_lazy_frames_check_every_upload_first_then_decode_one_at_a_time() -> None:
    from edge.platform.images import LazyFrames

    good = base64.b64encode(_jpeg()).decode()
    with pytest.raises(EdgeError) as err:  # the bad third image is refused before any decoding
        LazyFrames.from_b64([good, good, base64.b64encode(_png_header(60000, 60000)).decode()], **LIMITS)
    assert err.value.code == "image_too_large"
    frames = LazyFrames.from_b64([good] * 3, **LIMITS)
    assert len(frames) == 3
    it = iter(frames)
    first = next(it)
    assert first.shape == (48, 64, 3) and sum(1 for _ in it) == 2


def _progressive(w: int, h: int) -> bytes:
    img = cv2.resize(np.indices((64, 64)).sum(axis=0).astype(np.uint8), (w, h))
    ok, buf = cv2.imencode(".jpg", cv2.merge([img, img, img]), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    return buf.tobytes()


def test_a_progressive_phone_photo_is_decoded_reduced_and_a_progressive_bomb_is_refused() -> None:
    """A progressive JPEG holds the full image's coefficients while decoding: a phone photo's
    worth (up to 16 MP) is decoded reduced to the cap; beyond that it is refused from its header."""
    img = decode_image(_progressive(2500, 1700), max_bytes=4_000_000, max_pixels=1_100_000)
    assert img.shape == (850, 1250, 3)  # 1/2 each way, under the 1.1 MP cap
    bomb = bytearray(_progressive(64, 64))
    sof = bomb.index(b"\xff\xc2")
    bomb[sof + 5 : sof + 9] = struct.pack(">HH", 16000, 16000)
    with pytest.raises(EdgeError) as err:
        decode_image(bytes(bomb), max_bytes=4_000_000, max_pixels=4_000_000)
    assert (err.value.status, err.value.code) == (413, "image_too_large")
    assert err.value.details["max_pixels"] == 16_000_000
