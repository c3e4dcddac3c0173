"""The decode benchmark's own honesty: strict JSON without samples, and frame-to-ScanEvent
latency that stops only when the event is delivered on the bus loop (as in the daemon)."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

from edge.scanning.events import ScanEvent

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "decode.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_decode", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_samples_is_null_not_nan(bench: ModuleType) -> None:
    assert bench.pct([], 0.99) is None
    assert bench.pct([3.0, 1.0, 2.0], 0.5) == 2.0
    assert json.dumps({"event_p99_ms": bench.pct([], 0.99)}, allow_nan=False) == '{"event_p99_ms": null}'


def test_event_latency_stops_at_delivery_on_the_bus_loop(bench: ModuleType) -> None:
    clock = bench.BusClock()
    seen: list[str] = []
    clock.bus.subscribe(ScanEvent, lambda e: seen.append(threading.current_thread().name))
    event = ScanEvent(camera_id="c", role="kiosk", target="k", symbology="EAN-13", text="4006381333931")
    captured = time.monotonic() - 0.040  # the frame was captured 40 ms ago

    def decode_thread() -> None:
        clock.publish(event, captured)

    t = threading.Thread(target=decode_thread)
    t.start()
    t.join()
    (latency,) = clock.close()
    assert seen == ["bench-bus-loop"]  # handed to the loop thread, not dispatched inline
    assert 40.0 <= latency < 5000.0
