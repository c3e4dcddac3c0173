"""Phone frames decoded in a child process (edge.scanning.framehost): the same answers as in the
daemon, typed errors across the pipe, a dead or hung child replaced, its counters in /metrics."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from prometheus_client import REGISTRY

from edge.demo.gtins import GROCERY
from edge.demo.media import background, place, product_pack
from edge.platform.errors import Unavailable
from edge.platform.images import TooLarge
from edge.scanning.framehost import FrameHost
from edge.scanning.settings import ScanningSettings
from tests.support.waits import wait_for

TEA = GROCERY[0][0]


def _jpeg(frame: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buf.tobytes()


PACK = _jpeg(place(background((640, 384), 3), product_pack(TEA, "pack", (40, 90, 170)), 120, 60))
EMPTY = _jpeg(background((640, 384), 5))


@pytest.fixture
def host() -> Iterator[FrameHost]:
    h = FrameHost(ScanningSettings.model_validate({"phone": {"frame_timeout_s": 3, "decode_slots": 2}}))
    h.start()
    wait_for(lambda: h._child, 60, "the decoder process to start")
    try:
        yield h
    finally:
        h.stop()


def _confirm(host: FrameHost, stream: str, t0: float = 1000.0) -> list[str]:
    """Frames of one pack at the page's rate until it is confirmed (or eight frames pass)."""
    for i in range(8):
        read = host.read_frame(stream, PACK, t0 + i * 250, f"{stream}-{t0}-{i}")
        if read.codes:
            return [c.text for c in read.codes]
    return []


def _child_pid(host: FrameHost) -> int:
    child = host._child
    assert child is not None and child.proc.pid is not None
    return child.proc.pid


def _sample(host: FrameHost, name: str, labels: dict[str, str]) -> float:
    host.sync_metrics()
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_child_confirms_a_code_once_and_answers_bad_frames_with_their_types(host: FrameHost) -> None:
    assert _confirm(host, "phone-a") == [TEA]
    again = host.read_frame("phone-a", PACK, 4000, "phone-a-held")
    assert again.codes == () and again.seen == 1, "held in view: read, not confirmed twice"
    assert host.read_frame("phone-a", PACK, 4250, "phone-a-held").repeated, "a resent frame id is known"
    assert host.read_frame("phone-b", EMPTY, 1000, None).seen == 0
    with pytest.raises(TooLarge) as big:
        host.read_frame("phone-b", b"\xff\xd8" + bytes(500_000), 1250, None)
    assert big.value.status == 413 and big.value.code == "image_too_large"


def test_a_killed_child_is_replaced_and_the_next_frames_read(host: FrameHost) -> None:
    first = _child_pid(host)
    assert host.health().status == "ok" and host.health().details["replaced"] == 0
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: host._child is not None and not host._child.proc.is_alive(), 10, "the child to die")
    assert host.health().status == "degraded", "store IT sees that no decoder runs"
    assert _confirm(host, "phone-c") == [TEA], "a new child reads the phone's frames afresh"
    assert _child_pid(host) != first
    assert host.health().status == "ok" and host.health().details["replaced"] == 1


def test_a_hung_child_is_answered_busy_and_replaced(host: FrameHost) -> None:
    first = _child_pid(host)
    os.kill(first, signal.SIGSTOP)
    try:
        with pytest.raises(Unavailable) as busy:
            host.read_frame("phone-d", PACK, 1000, "d-0")
        assert busy.value.code == "scanner_busy" and busy.value.status == 503
    finally:
        with contextlib.suppress(ProcessLookupError):  # replaced: killed and reaped
            os.kill(first, signal.SIGCONT)
    assert _confirm(host, "phone-d", 2000) == [TEA]
    assert _child_pid(host) != first
    assert host.health().details["replaced"] == 1, "a hung child counts as replaced once"


def test_the_childs_counters_reach_the_daemons_metrics(host: FrameHost) -> None:
    codes = {"camera": "phone", "outcome": "codes"}
    frames0 = _sample(host, "edge_scanning_frames_total", codes)
    decodes0 = _sample(host, "edge_scanning_decode_seconds_count", {"camera": "phone"})
    fast0 = _sample(host, "edge_scanning_decode_seconds_bucket", {"camera": "phone", "le": "0.25"})
    for i in range(3):
        host.read_frame("phone-e", PACK, 1000 + i * 250, None)
    assert _sample(host, "edge_scanning_frames_total", codes) == frames0 + 3
    assert _sample(host, "edge_scanning_decode_seconds_count", {"camera": "phone"}) == decodes0 + 3
    assert _sample(host, "edge_scanning_decode_seconds_bucket", {"camera": "phone", "le": "0.25"}) <= fast0 + 3
    assert _sample(host, "edge_scanning_frames_total", codes) == frames0 + 3, "a second scrape adds nothing twice"


def test_a_frame_before_the_child_is_up_waits_and_a_frame_after_stop_is_refused() -> None:
    h = FrameHost(ScanningSettings())
    h.start()
    try:
        assert h.read_frame("phone-f", PACK, 1000, None).seen == 1, "the first frame waits for the child"
    finally:
        h.stop()
    with pytest.raises(Unavailable) as stopped:
        h.read_frame("phone-f", PACK, 1250, None)
    assert stopped.value.code == "scanner_busy" and h._child is None, "no child started after stop"
