"""Hostile payloads (huge QR text, control characters, <script>, non-UTF-8 bytes) are carried as
data and escaped wherever they are shown: the decode CLI (text and JSON) and the log line."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno

from edge.scanning.codes import MAX_TEXT, validate
from edge.scanning.confirm import Confirmer, ConfirmRule
from edge.scanning.decoders import RawRead
from edge.scanning.events import ScanEvent
from edge.scanning.pipeline import FrameProcessor, ScanWorker
from edge.scanning.strategy import Strategy

CONTROL = "A\x00B\x1b[31mC\r\nD\x7f"
SCRIPT = "<script>alert('x')</script>"
NON_UTF8 = b"\xff\xfe\xfd\x80ok\xc3"
HUGE = "".join(chr(0x41 + (i * 7) % 26) for i in range(2200))


def qr_image(payload: str | bytes, scale: int = 3) -> np.ndarray:
    qr = segno.make(payload, error="l", micro=False, mode="byte")
    rows = np.array([[0 if m else 255 for m in row] for row in qr.matrix], np.uint8)
    img = cv2.resize(rows, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    return cv2.copyMakeBorder(img, 24, 24, 24, 24, cv2.BORDER_CONSTANT, value=255)


@pytest.fixture(scope="module")
def strategy() -> Strategy:
    return Strategy()


@pytest.mark.parametrize("payload", [CONTROL, SCRIPT, HUGE], ids=["control", "script", "huge"])
def test_text_payloads_are_carried_unchanged(strategy: Strategy, payload: str) -> None:
    (code,) = strategy.decode(qr_image(payload)).codes
    assert code.text == payload
    assert code.gtin is None


def test_non_utf8_bytes_are_carried_as_bytes(strategy: Strategy) -> None:
    (code,) = strategy.decode(qr_image(NON_UTF8)).codes
    assert code.raw == NON_UTF8
    assert isinstance(code.text, str) and "ok" in code.text


def _full_qr(payload: str | bytes, mode: str) -> np.ndarray:
    qr = segno.make(payload, error="l", micro=False, mode=mode)
    assert qr.version == 40  # the largest QR Code there is
    rows = np.array([[0 if m else 255 for m in row] for row in qr.matrix], np.uint8)
    img = cv2.resize(rows, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
    return cv2.copyMakeBorder(img, 24, 24, 24, 24, cv2.BORDER_CONSTANT, value=255)


def test_a_full_capacity_numeric_qr_is_carried_intact(strategy: Strategy) -> None:
    digits = "".join(str((i * 7 + i // 10) % 10) for i in range(7089))  # 7,089 digits: a full version-40 QR
    (code,) = strategy.decode(_full_qr(digits, "numeric")).codes
    assert code.text == digits and code.gtin is None
    assert len(code.text) == MAX_TEXT


def test_a_full_capacity_binary_qr_is_carried_intact(strategy: Strategy) -> None:
    payload = bytes((i * 37 + 128) % 256 for i in range(2953))  # 2,953 bytes: a full byte-mode QR
    (code,) = strategy.decode(_full_qr(payload, "byte")).codes
    assert code.raw == payload


def test_text_beyond_any_qr_capacity_is_refused() -> None:
    read = RawRead("QRCode", "x" * (MAX_TEXT + 1), b"", "zxing", False, (0, 0, 1, 1))
    assert validate(read) is None
    assert validate(RawRead("QRCode", "x", b"x" * (MAX_TEXT + 1), "zxing", False, (0, 0, 1, 1))) is None


def _write(tmp_path: Path, name: str, img: np.ndarray) -> Path:
    path = tmp_path / name
    cv2.imwrite(str(path), img)
    return path


def test_decode_cli_json_lines_and_text_are_escaped(tmp_path: Path) -> None:
    for name, payload in (("control.png", CONTROL), ("script.png", SCRIPT), ("bytes.png", NON_UTF8)):
        _write(tmp_path, name, qr_image(payload))
    (tmp_path / "notes.png").write_text("not an image")
    args = ["./control.png", "./script.png", "./bytes.png", "./notes.png", "./missing.png"]
    cmd = [sys.executable, "-m", "edge", "decode", "--json", *args]
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=60)
    assert res.returncode == 2  # some files were not images, and every image still got its line
    lines = res.stdout.decode("ascii").splitlines()  # pure ASCII: nothing raw reaches the terminal
    assert len(lines) == len(args)
    rows = [json.loads(line) for line in lines]
    assert [r["image"] for r in rows] == args  # the path as given
    assert rows[0]["codes"] == [{"symbology": "QRCode", "text": CONTROL, "gtin": None}]
    assert rows[1]["codes"][0]["text"] == SCRIPT
    assert all(isinstance(r["ms"], float) for r in rows)
    for row in rows[3:]:
        assert row["codes"] == [] and row["error"]["code"] == "image_unreadable"
    assert "\\u001b" in lines[0] and "\x1b" not in res.stdout.decode("ascii")

    from typer.testing import CliRunner

    from edge.cli import app

    text = CliRunner().invoke(app, ["decode", str(tmp_path / "control.png")])
    assert text.exit_code == 0
    assert "\\x1b" in text.stdout and "\x1b" not in text.stdout and "\x00" not in text.stdout
    assert text.stdout.count("\n") == 1
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((200, 200), 255, np.uint8))
    blank = CliRunner().invoke(app, ["decode", str(tmp_path / "control.png"), str(tmp_path / "blank.png")])
    assert blank.exit_code == 1 and "blank.png: no code" in blank.stdout  # an image with no code read


class _OneFrame:
    """Feeds one real frame to a ScanWorker (the camera side is tested in test_cameras_*)."""

    def __init__(self, frame: np.ndarray) -> None:
        self.frame = frame
        self.sent = 0

    def wait_frame(self, camera_id: str, after_seq: int, timeout: float) -> tuple[np.ndarray, float, int] | None:
        import time

        if self.sent >= 3:
            time.sleep(timeout)  # simulated: no new frame, so the camera's wait_frame runs to its timeout
            return None
        self.sent += 1
        return self.frame, time.monotonic(), self.sent


def test_scan_log_line_is_escaped(strategy: Strategy, caplog: pytest.LogCaptureFixture) -> None:
    frame = cv2.cvtColor(qr_image(CONTROL + SCRIPT), cv2.COLOR_GRAY2BGR)
    rule = ConfirmRule(min_frames=1, min_decoders=0)
    proc = FrameProcessor("gate", "exit_gate", "g", strategy, None, Confirmer(rule))
    got: list[ScanEvent] = []
    done = threading.Event()

    def publish(event: ScanEvent) -> None:
        got.append(event)
        done.set()

    worker = ScanWorker(proc, _OneFrame(frame), publish)
    with caplog.at_level(logging.INFO, logger="edge.scanning.pipeline"):
        worker.start()
        assert done.wait(10)
        worker.stop()
    assert got[0].text == CONTROL + SCRIPT
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("scan ")]
    assert lines and all(not any(ord(ch) < 32 for ch in line) for line in lines)
