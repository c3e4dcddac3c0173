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


def test_folds_keep_source_folders_whole_and_the_simulation_stops_at_the_first_pass_with_a_code(
    bench: ModuleType,
) -> None:
    import folds  # importable once the bench module is loaded (it puts its folder on the path)

    from edge.scanning.evaluation import Item

    names = [f"images/zxing_upca-{g}_{i}.png" for g in range(1, 7) for i in range(g + 2)]
    names += [f"images/quagga2_upc_image-00{i}.jpg" for i in range(4)]
    items = [Item(n, "UPC-A", {"x"}, False, None) for n in names]
    made = folds.make_folds(items, 3)
    assert sorted(i for fold in made for i in fold) == list(range(len(items)))  # each image once
    groups = [{folds.group_of(items[i].image) for i in fold} for fold in made]
    assert all(not (a & b) for n, a in enumerate(groups) for b in groups[n + 1 :])  # a folder in one fold
    assert max(map(len, made)) - min(map(len, made)) <= 8  # balanced by size
    assert folds.group_of("images/quagga2_upc_e_image-003.jpg") == "quagga2/upc_e"
    # the strategy stops at the first pass that returns a code, right or wrong
    row = {"zxing": (False, False, False), "a": (False, True, True), "b": (True, False, True)}
    table = folds.PassTable(["zxing", "a", "b"], [row], [(False, False)], [(False, False)])
    assert folds.outcome(table, 0, ["a", "b"]) == (False, True)
    assert folds.outcome(table, 0, ["b", "a"]) == (True, False)
    assert folds.select(table, [0]) == ["b"]  # the pass that reads, not the one that misreads


def test_cross_validation_reports_each_symbology_on_folds_it_was_not_chosen_on(bench: ModuleType) -> None:
    """`cv_by_symbology` counts each image once, on the fold held out when its list was chosen."""
    import folds

    from edge.scanning.evaluation import load
    from edge.scanning.strategy import Strategy
    from tests.conftest import shared_path

    wanted = ("zxing_upce-2_1", "zxing_ean8-1_", "zxing_upca-2_0")  # three source folders, by name
    items = load(
        shared_path("data/barcodes/manifest.csv"),
        lambda rows: [r for r in rows if any(w in r["image"] for w in wanted)][:12],
    )
    cv = folds.cross_validate(items, Strategy(), 3)
    by_symbology, rate = cv["cv_by_symbology"], cv["cv_read_rate"]
    assert isinstance(by_symbology, dict) and isinstance(rate, float)
    assert set(by_symbology) == {i.symbology for i in items}
    sizes = {s: sum(i.symbology == s for i in items) for s in by_symbology}
    read = sum(round(by_symbology[s] * n / 100) for s, n in sizes.items())
    assert read == round(rate * len(items) / 100)
