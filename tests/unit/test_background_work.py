"""One way to run background work: every thread a domain runs is an edge.platform.worker.Worker
(start, stop within a deadline, health, paced restarts), and no module keeps mutable state that
would outlive a daemon (tests and the CLI build several in one process)."""

from __future__ import annotations

import ast
import threading
import time
from pathlib import Path

from edge.platform.worker import Worker
from tests.support.waits import wait_for

EDGE = Path(__file__).resolve().parents[2] / "edge"
STATEFUL_CALLS = {"defaultdict", "deque", "Lock", "RLock", "Event", "Condition", "Thread", "dict", "list", "set"}
# The UUIDv7 clock is process-wide on purpose: ids stay ordered across every daemon in a process.
ALLOWED = {"platform/ids.py"}


def _problems(path: Path, root: Path = EDGE) -> list[str]:
    rel = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text())
    out = [f"{rel}:{n.lineno}: `global`" for n in ast.walk(tree) if isinstance(n, ast.Global)]
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        src = ast.unparse(value) if value is not None else ""
        empty = src in ("{}", "[]", "set()", "dict()", "list()")  # a table that only fills at run time
        name = src.split("(")[0].split(".")[-1] if isinstance(value, ast.Call) else ""
        if empty or name in STATEFUL_CALLS - {"dict", "list", "set"}:
            out.append(f"{rel}:{node.lineno}: module-level mutable state")
    if rel.split("/")[0] != "platform" and any(
        isinstance(n, ast.Call) and ast.unparse(n.func) == "threading.Thread" for n in ast.walk(tree)
    ):
        out.append(f"{rel}: starts a thread by hand (use edge.platform.worker.Worker)")
    return out


def test_no_thread_by_hand_and_no_module_state() -> None:
    found = [p for path in sorted(EDGE.rglob("*.py")) if "migrations" not in path.parts for p in _problems(path)]
    assert [p for p in found if p.split(":")[0] not in ALLOWED] == []


def test_the_check_catches_planted_state_and_a_hand_made_thread(tmp_path: Path) -> None:
    bad = tmp_path / "checkout" / "planted.py"
    bad.parent.mkdir()
    bad.write_text("import threading\n_HELD = {}\n_lock = threading.Lock()\nthreading.Thread(target=print).start()\n")
    assert _problems(bad, tmp_path) == [
        "checkout/planted.py:2: module-level mutable state",
        "checkout/planted.py:3: module-level mutable state",
        "checkout/planted.py: starts a thread by hand (use edge.platform.worker.Worker)",
    ]


def test_a_worker_restarts_a_failing_body_with_paced_back_off_and_stops_in_time() -> None:
    runs: list[float] = []

    def body(w: Worker) -> None:
        runs.append(time.monotonic())
        if len(runs) < 3:
            raise RuntimeError("boom")
        w.wait(None)  # then runs until stopped

    worker = Worker("test-worker", body)
    worker.start()
    wait_for(lambda: len(runs), 10, "the body's third run", until=lambda n: n >= 3)
    assert len(runs) == 3 and worker.alive
    assert runs[2] - runs[1] >= 2 * (runs[1] - runs[0]) * 0.9, "the back-off doubles"
    health = worker.health()
    assert (health.restarts, health.last_error) == (2, "RuntimeError: boom")
    t0 = time.monotonic()
    assert worker.stop(2.0) and time.monotonic() - t0 < 1.0
    assert not any(t.name == "test-worker" for t in threading.enumerate())
