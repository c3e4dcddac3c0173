"""Debounce and confirmation on synthetic frame sequences (rendered packs, real decoders).

Frames are 640x480 at 15 fps; time is the frame index / 15, so the tests do not sleep.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.demo.media import background, place, product_pack
from edge.scanning.codes import Code
from edge.scanning.component import confirm_rule
from edge.scanning.confirm import Confirmer, ConfirmRule
from edge.scanning.motion import MotionGate
from edge.scanning.pipeline import FrameProcessor
from edge.scanning.settings import ScanningSettings
from edge.scanning.strategy import Strategy

A = "6901234000016"
B = "6901234000023"
BG = background((640, 480), 1)


def pack_frame(code: str, dx: int = 0) -> np.ndarray:
    pack = product_pack(code, "pack", (40, 90, 170))
    return place(BG, pack, 140 + dx, 120)


@pytest.fixture(scope="module")
def strategy() -> Strategy:
    return Strategy()


@pytest.fixture(scope="module")
def frames() -> dict[str, np.ndarray]:
    return {"A": pack_frame(A), "A2": pack_frame(A, 2), "B": pack_frame(B), "empty": BG}


def run(strategy: Strategy, role: str, seq: list[np.ndarray], gate: bool = True) -> list[tuple[int, str | None]]:
    rule = confirm_rule(ScanningSettings(), role)
    p = FrameProcessor("cam", role, "t", strategy, MotionGate() if gate else None, Confirmer(rule))
    out: list[tuple[int, str | None]] = []
    for i, frame in enumerate(seq):
        out += [(i, e.gtin) for e in p.process(frame, i / 15)]
    return out


def jiggle(frames: dict[str, np.ndarray], key: str, n: int) -> list[np.ndarray]:
    """A pack held by a hand: it moves a little, so the motion gate keeps decoding."""
    alt = "A2" if key == "A" else key
    return [frames[key] if i % 2 else frames[alt] for i in range(n)]


def test_code_held_in_view_counts_once(strategy: Strategy, frames: dict[str, np.ndarray]) -> None:
    events = run(strategy, "kiosk", [frames["empty"]] * 3 + jiggle(frames, "A", 45))
    assert [g for _, g in events] == ["0" + A]
    assert events[0][0] == 4  # confirmed on the second frame that shows it


def test_taken_away_and_shown_again_counts_again(strategy: Strategy, frames: dict[str, np.ndarray]) -> None:
    seq = jiggle(frames, "A", 10) + [frames["empty"]] * 20 + jiggle(frames, "A", 10)
    assert [g for _, g in run(strategy, "kiosk", seq)] == ["0" + A, "0" + A]


def test_a_short_dropout_is_not_a_new_appearance(strategy: Strategy, frames: dict[str, np.ndarray]) -> None:
    seq = jiggle(frames, "A", 10) + [frames["empty"]] * 3 + jiggle(frames, "A", 10)  # 0.2 s blur/occlusion
    assert [g for _, g in run(strategy, "kiosk", seq)] == ["0" + A]


def test_single_misread_never_reaches_a_kiosk_cart(strategy: Strategy, frames: dict[str, np.ndarray]) -> None:
    """B stands for a misread: a code present in one frame only, amid A or amid empty frames."""
    seq = jiggle(frames, "A", 8) + [frames["B"]] + jiggle(frames, "A", 8) + [frames["empty"]] * 20
    seq += [frames["B"]] + [frames["empty"]] * 20
    events = run(strategy, "kiosk", seq, gate=False)
    assert [g for _, g in events] == ["0" + A]


def test_single_frame_misread_property() -> None:
    """Any code seen in exactly one frame by one decoder never confirms under the kiosk rule."""
    rule = confirm_rule(ScanningSettings(), "kiosk")
    rng = np.random.default_rng(5)
    for trial in range(200):
        c = Confirmer(rule)
        good = Code("EAN-13", A, "0" + A, decoders=frozenset({"zxing"}))
        bad = Code("EAN-13", B, "0" + B, decoders=frozenset({rng.choice(["zxing", "zbar"])}))
        when = int(rng.integers(0, 40))
        emitted: list[str] = []
        for i in range(40):
            codes = [good] if rng.random() < 0.7 else []
            if i == when:
                codes = [*codes, bad] if rng.random() < 0.5 else [bad]
            emitted += [x.text for x in c.observe(codes, i / 15)]
        assert B not in emitted, trial


def test_two_decoders_in_one_frame_confirm_at_once() -> None:
    c = Confirmer(confirm_rule(ScanningSettings(), "kiosk"))
    both = Code("EAN-13", A, "0" + A, decoders=frozenset({"zxing", "zbar"}))
    assert c.observe([both], 0.0) == [both]


def test_static_scene_held_still_is_not_counted_again(strategy: Strategy, frames: dict[str, np.ndarray]) -> None:
    """The motion gate skips the still frames; when the hand moves again the code is still the same visit."""
    seq = jiggle(frames, "A", 6) + [frames["A"]] * 60 + jiggle(frames, "A", 6)
    rule = confirm_rule(ScanningSettings(), "kiosk")
    p = FrameProcessor("cam", "kiosk", "t", strategy, MotionGate(), Confirmer(rule))
    events = [e for i, f in enumerate(seq) for e in p.process(f, i / 15)]
    assert len(events) == 1
    assert p.stats.skipped_static >= 40  # a still scene costs (almost) nothing


def test_exit_gate_takes_qr_passes_only(strategy: Strategy, frames: dict[str, np.ndarray]) -> None:
    from tests.unit.test_scanning_strategy import _qr

    qr = np.full((480, 640, 3), 200, np.uint8)
    img = _qr("PASS.v1.abc", scale=6)
    qr[60 : 60 + img.shape[0], 60 : 60 + img.shape[1]] = img[:, :, None]
    assert run(strategy, "exit_gate", jiggle(frames, "A", 10)) == []
    rule = confirm_rule(ScanningSettings(), "exit_gate")
    p = FrameProcessor("gate", "exit_gate", "gate-1", strategy, MotionGate(), Confirmer(rule))
    events = p.process(qr, 0.0)
    assert [(e.symbology, e.text, e.role, e.target) for e in events] == [
        ("QRCode", "PASS.v1.abc", "exit_gate", "gate-1")
    ]


def test_rule_from_settings() -> None:
    kiosk = confirm_rule(ScanningSettings(), "kiosk")
    assert (kiosk.min_frames, kiosk.min_decoders) == (ConfirmRule().min_frames, 2)
    assert kiosk.symbologies is None  # packs, fresh-food labels, member cards, coupons, payment codes
    room = confirm_rule(ScanningSettings(), "fitting_room").symbologies
    assert room is not None and "Code128" in room and "QRCode" not in room
    assert confirm_rule(ScanningSettings(), "exit_gate").symbologies == ("QRCode",)


def test_region_of_interest_limits_what_is_decoded(strategy: Strategy, frames: dict[str, np.ndarray]) -> None:
    """The pack sits at x 140..~520; a ROI on the right-hand side of the frame never sees it."""
    rule = confirm_rule(ScanningSettings(), "kiosk")
    seq = jiggle(frames, "A", 10)
    outside = FrameProcessor("cam", "kiosk", "t", strategy, MotionGate(), Confirmer(rule), roi=(560, 0, 80, 480))
    inside = FrameProcessor("cam", "kiosk", "t", strategy, MotionGate(), Confirmer(rule), roi=(100, 80, 500, 380))
    assert [e for i, f in enumerate(seq) for e in outside.process(f, i / 15)] == []
    assert [e.gtin for i, f in enumerate(seq) for e in inside.process(f, i / 15)] == ["0" + A]
