"""Rendered labels and a kiosk camera for the scanning tests: the bench's renderer
(scripts/bench/softlabels.py), so tests and figures read the same labels."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from edge.cameras.contract import CameraInfo
from edge.scanning.component import make_processor
from edge.scanning.events import ScanEvent
from edge.scanning.settings import MotionSettings, ScanningSettings
from edge.scanning.strategy import Strategy

_SPEC = importlib.util.spec_from_file_location(
    "bench_softlabels", Path(__file__).resolve().parents[2] / "scripts" / "bench" / "softlabels.py"
)
assert _SPEC is not None and _SPEC.loader is not None
softlabels = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(softlabels)


def kiosk_events(gray: np.ndarray, strategy: Strategy) -> list[ScanEvent]:
    """What a kiosk camera with this strategy confirms while the photo is held still."""
    cam = CameraInfo(id="k-cam", role="kiosk", target="kiosk-1")
    proc = make_processor(ScanningSettings(motion=MotionSettings(enabled=False)), cam, strategy)
    frame = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    return [e for t in np.arange(0.0, 1.0, 0.1) for e in proc.process(frame, float(t))]
