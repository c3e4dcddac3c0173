"""The demo clips: rendered EAN-13s that decode, each product counted once per appearance."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from edge.demo.gtins import FASHION, GROCERY
from edge.demo.media import ean13_modules, ensure_media
from edge.scanning.component import confirm_rule
from edge.scanning.confirm import Confirmer
from edge.scanning.motion import MotionGate
from edge.scanning.pipeline import FrameProcessor
from edge.scanning.settings import ScanningSettings
from edge.scanning.strategy import Strategy


def test_ean13_modules_follow_the_encoding_tables() -> None:
    mods = ean13_modules("4006381333931")
    assert len(mods) == 95 and mods[:3] == mods[-3:] == "101" and mods[45:50] == "01010"
    assert mods[3:10] == "0001101"  # first digit 4 -> parity LGLLGG; digit 0 in L
    assert mods[10:17] == "0100111"  # digit 0 in G
    with pytest.raises(ValueError):
        ean13_modules("12345")


def test_clips_are_cached_and_every_product_counts_once(tmp_path: Path) -> None:
    media = ensure_media(tmp_path)
    again = ensure_media(tmp_path)
    assert media == again
    cams = {c["id"]: c for c in media["cameras"]}
    assert {k: (c["role"], c["target"]) for k, c in cams.items()} == {
        "kiosk-1-cam": ("kiosk", "kiosk-1"),
        "room-1-cam": ("fitting_room", "room-1"),
    }
    strategy = Strategy()
    for cam_id, products in (("kiosk-1-cam", GROCERY), ("room-1-cam", FASHION)):
        cam = cams[cam_id]
        cap = cv2.VideoCapture(cam["source"])
        assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 480)
        rule = confirm_rule(ScanningSettings(), cam["role"])
        p = FrameProcessor(cam_id, cam["role"], cam["target"], strategy, MotionGate(), Confirmer(rule))
        seen: list[str | None] = []
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            seen += [e.gtin for e in p.process(frame, i / cam["fps"])]
            i += 1
        assert seen == ["0" + p_[0] for p_ in products], cam_id
        assert i / cam["fps"] < 16  # short clips
