"""The house rules, checked on every run: ruff and mypy clean, modules split before ~400 lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.services import ROOT

BIN = Path(sys.executable).parent


def test_ruff_is_clean() -> None:
    out = subprocess.run(
        [str(BIN / "ruff"), "check", "edge", "tests", "scripts", "cloud"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_is_clean() -> None:
    out = subprocess.run([str(BIN / "mypy")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_daemon_modules_stay_small() -> None:
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "edge").rglob("*.py")
        if "migrations" not in p.parts and (n := len(p.read_text().splitlines())) > 450
    }
    assert too_long == {}, f"split these by meaning: {too_long}"
