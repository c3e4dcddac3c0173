"""Where the installed project keeps its static pages (kiosk_ui/ beside edge/)."""

from __future__ import annotations

from pathlib import Path


def ui_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "kiosk_ui"
