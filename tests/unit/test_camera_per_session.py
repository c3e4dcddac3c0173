"""A per-session clip (the demo's shopper): shown once each time a kiosk session opens at its
kiosk, its first frame (an empty tray) in between, never restarted mid-basket."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.cameras.service import CameraService
from edge.cameras.settings import CameraSettings
from edge.cameras.sources import CaptureReader, PerSession
from edge.demo.media import write_clip

N = 8


def clip(tmp_path: Path) -> Path:
    """Frame i is a flat grey of 20 * (i + 1): which frame a read returned is its mean."""
    path = tmp_path / "shopper.avi"
    write_clip(path, [np.full((48, 64, 3), 20 * (i + 1), np.uint8) for i in range(N)], fps=60)
    return path


def index(frame: np.ndarray | None) -> int:
    assert frame is not None
    return round(float(frame.mean()) / 20) - 1


def test_the_clip_waits_plays_once_per_session_and_holds_its_first_frame(tmp_path: Path) -> None:
    reader = PerSession(CaptureReader(str(clip(tmp_path)), "file", 60.0), fps=60.0)
    try:
        assert [index(reader.read()) for _ in range(5)] == [0] * 5, "nothing plays before a session opens"
        reader.replay()
        played = [index(reader.read()) for _ in range(N + 4)]
        assert played[:N] == list(range(N)), "the whole basket, once"
        assert played[N:] == [0] * 4, "then the empty tray until the next session"
        reader.replay()
        first = [index(reader.read()) for _ in range(3)]
        reader.replay()  # a session opened by the clip's own scan: the basket is not restarted
        rest = [index(reader.read()) for _ in range(N - 3)]
        assert first + rest == list(range(N))
    finally:
        reader.close()


def test_a_session_opened_late_in_a_play_gets_its_own_play_after_it(tmp_path: Path) -> None:
    reader = PerSession(CaptureReader(str(clip(tmp_path)), "file", 60.0), fps=60.0, grace_s=0.0)
    try:
        reader.replay()
        first = [index(reader.read()) for _ in range(3)]
        reader.replay()  # the shopper paid and left while the clip still played: the next one opened
        played = [index(reader.read()) for _ in range(2 * N + 3)]
        assert first + played[: N - 3] == list(range(N)), "the first basket is not cut short"
        assert played[N - 3] == 0, "the empty tray between the two shoppers"
        assert played[N - 2 : 2 * N - 2] == list(range(N)), "the next session's basket, once"
        assert played[2 * N - 2 :] == [0] * 5, "then the tray"
    finally:
        reader.close()


def test_a_session_opening_at_the_kiosk_plays_its_clip(tmp_path: Path) -> None:
    source = str(clip(tmp_path))
    cams = [
        CameraSettings(id="shopper", source=source, role="kiosk", target="kiosk-1", fps=60, replay="per_session"),
        CameraSettings(id="other", source=source, role="kiosk", target="kiosk-2", fps=60, replay="per_session"),
    ]
    service = CameraService(cams)
    service.start()
    try:
        seen: dict[str, list[int]] = {"shopper": [], "other": []}

        def frames(cam: str, until: Callable[[list[int]], bool]) -> list[int]:
            seq = 0
            deadline = time.monotonic() + 10
            while not until(seen[cam]):
                assert time.monotonic() < deadline, f"{cam}: {seen[cam][-20:]}"
                got = service.wait_frame(cam, seq, 1.0)
                if got is not None:
                    seq = got[2]
                    seen[cam].append(index(got[0]))
            return seen[cam]

        frames("shopper", lambda xs: len(xs) >= 5)
        assert set(seen["shopper"]) == {0}, "holding the empty tray"
        service.replay_for("kiosk-1")
        frames("shopper", lambda xs: any(x > 0 for x in xs))  # the basket plays
        frames("other", lambda xs: len(xs) >= 5)
        assert set(seen["other"]) == {0}, "another kiosk's session does not play this clip"
    finally:
        service.stop(2.0)
