"""The staff-task benchmark's figures (scripts/bench/staff.py): from what the kiosks sent, what the
handhelds heard and claimed, and the daemon's own database, to the result and its printed report.

- requests: kiosk requests due (each should raise one task).
- delivered: requests whose task reached at least one handheld (dedupe by id, as a handheld does:
  a task seen twice is delivered once). lost = requests - delivered, so a request the kiosk could
  not make, or one answered with no task, is lost too.
- duplicates: one kiosk request (one cart) under two task ids, e.g. the kiosk resent it after the
  kill -9. A task announced `open` twice (a resend after the crash) is `open_resends`, not this.
- double_claims: a task that two handhelds both claimed successfully (must be 0).
- kiosk_to_handheld: the kiosk's request sent -> the first handheld receives the task's `open`.
  The target holds outside the restart windows (restart until `settle` s after it is back);
  `..._all_` is every request.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from mqtt_devices import pct
from staff_world import Request

from edge.demo.catalog import RICE_WINE

TARGET_P99_MS = 50.0


def read_db(data_dir: Path) -> tuple[dict[str, tuple[str, str, str, str]], set[str]]:
    """The daemon's own record, read after it stopped: every task, and each cart with the rice wine."""
    db = sqlite3.connect(f"file:{data_dir / 'edge.db'}?mode=ro", uri=True)
    try:
        tasks = {row[0]: row[1:] for row in db.execute(
            "SELECT id, kind, session_id, state, claimed_by FROM checkout_staff_task")}  # fmt: skip
        wine = {row[0] for row in db.execute("SELECT session_id FROM cart_line WHERE gtin = ?", (RICE_WINE,))}
    finally:
        db.close()
    return tasks, wine


def _p(xs: list[float], q: float) -> float | None:
    v = pct(xs, q)
    return round(v, 2) if v is not None else None


def figures(
    due: int,
    requests: list[Request],
    snap: dict[str, Any],
    data_dir: Path,
    windows: list[tuple[float, float]],
    t_start: float,
    slowest: int = 0,
) -> dict[str, Any]:
    db_tasks, wine_lines = read_db(data_dir)
    tasks_of: dict[str, set[str]] = defaultdict(set)
    for tid, (_kind, sid, _state, _by) in db_tasks.items():
        tasks_of[sid].add(tid)
    for sid, tids in snap["session_tasks"].items():
        tasks_of[sid] |= tids
    for r in requests:
        if r.task_id:
            tasks_of[r.session_id].add(r.task_id)
    ours = {r.session_id for r in requests}
    raised = {t for sid in ours for t in tasks_of.get(sid, ())}
    first_seen: dict[str, float] = snap["first_seen"]
    reached = [r for r in requests if any(t in first_seen for t in tasks_of.get(r.session_id, ()))]
    # answered 2xx, or its rice-wine line committed, and yet no task at all
    taskless = [
        r for r in requests
        if not tasks_of.get(r.session_id) and (r.answer.status in (200, 201) or r.session_id in wine_lines)
    ]  # fmt: skip
    winners: dict[str, set[int]] = snap["winners"]

    def in_window(t0: float) -> bool:
        return any(a <= t0 <= b for a, b in windows)

    lat: dict[bool, list[float]] = {False: [], True: []}
    rtt: dict[str, list[float]] = defaultdict(list)
    timed: list[tuple[float, Request]] = []
    for r in reached:
        ms = (min(first_seen[t] for t in tasks_of[r.session_id] if t in first_seen) - r.t0) * 1000
        lat[in_window(r.t0)].append(ms)
        timed.append((ms, r))
    for r in requests:
        if not in_window(r.t0) and r.answer.status in (200, 201):
            rtt[r.kind].append(r.answer.rtt_ms)
    before_answer = sum(1 for ms, r in timed if r.t0 + ms / 1000 <= r.answer.answered_at)
    steady = sorted((x for x in timed if not in_window(x[1].t0)), key=lambda x: x[0])
    for ms, r in steady[len(steady) - slowest :] if slowest else []:
        print(f"slow task #{r.n} {r.kind} at {r.t0 - t_start:.2f} s: kiosk->handheld {ms:.1f} ms, "
              f"its request {r.answer.rtt_ms:.1f} ms", file=sys.stderr)  # fmt: skip
    everything = lat[False] + lat[True]
    return {
        "requests": due,
        "sent": len(requests),
        "id_checks": sum(1 for r in requests if r.kind == "id_check"),
        "kiosk_helps": sum(1 for r in requests if r.kind == "kiosk_help"),
        "raised": len(raised),
        "delivered": len(reached),
        "lost": due - len(reached),
        "lost_without_task": len(taskless),
        "duplicates": sum(1 for sid in ours if len(tasks_of.get(sid, ())) > 1),
        "open_resends": sum(1 for g in snap["open_events"].values() for evs in g.values() if len(evs) > 1),
        "qos1_redeliveries_deduped": snap["redeliveries"],
        "double_claims": sum(1 for w in winners.values() if len(w) > 1),
        "claimed_once": sum(1 for t in raised if len(winners.get(t, ())) == 1),
        "claims_won": sum(len(winners.get(t, ())) for t in raised),
        "claims_409": sum(snap["claims_409"].values()),
        "claim_errors": dict(snap["claim_errors"]),
        "resolved": len(raised & snap["resolved"]),
        "resolve_errors": dict(snap["resolve_errors"]),
        "done_in_db": sum(1 for t in raised if t in db_tasks and db_tasks[t][2] == "done"),
        "kiosk_to_handheld_p50_ms": _p(lat[False], 50),
        "kiosk_to_handheld_p99_ms": _p(lat[False], 99),
        "kiosk_to_handheld_max_ms": _p(lat[False], 100),
        "latency_samples": len(lat[False]),
        "kiosk_to_handheld_p50_all_ms": _p(everything, 50),
        "kiosk_to_handheld_p99_all_ms": _p(everything, 99),
        "in_restarts_samples": len(lat[True]),
        "handheld_before_kiosk_answer_share": round(before_answer / len(timed), 3) if timed else None,
        "add_wine_rtt_p50_ms": _p(rtt["id_check"], 50),
        "add_wine_rtt_p99_ms": _p(rtt["id_check"], 99),
        "help_rtt_p50_ms": _p(rtt["kiosk_help"], 50),
        "help_rtt_p99_ms": _p(rtt["kiosk_help"], 99),
        "claim_rtt_p50_ms": _p(snap["claim_ms"], 50),
        "claim_rtt_p99_ms": _p(snap["claim_ms"], 99),
        "resolve_rtt_p50_ms": _p(snap["resolve_ms"], 50),
        "resolve_rtt_p99_ms": _p(snap["resolve_ms"], 99),
    }


def passed(r: dict[str, Any]) -> bool:
    p99 = r["kiosk_to_handheld_p99_ms"]
    return bool(
        r["lost"] == 0 and r["duplicates"] == 0 and r["double_claims"] == 0 and p99 is not None and p99 <= TARGET_P99_MS
    )


# Over several runs: the median of each figure, except the counts that must be 0 (their worst)
# and the event lists (every run's).
WORST = ("lost", "lost_without_task", "duplicates", "double_claims", "open_resends")


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    if len(runs) == 1:
        return runs[0]
    out: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [r[key] for r in runs]
        if key in WORST:
            out[key] = max(values)
        elif key == "events":  # the same events at the same times in each run: how long each took
            out[key] = [{"event": e["event"], "at_s": e["at_s"],
                         **{k: [r[key][n][k] for r in runs] for k in ("back_after_s", "window_s")}}
                        for n, e in enumerate(first)]  # fmt: skip
        elif isinstance(first, bool) or not isinstance(first, int | float):
            out[key] = values if len({json.dumps(v, sort_keys=True) for v in values}) > 1 else first
        else:
            nums = [v for v in values if isinstance(v, int | float)]
            out[key] = round(statistics.median(nums), 3) if nums else None
    out["runs"] = len(runs)
    out["p99_ms_per_run"] = [r["kiosk_to_handheld_p99_ms"] for r in runs]
    return out


LINES: list[tuple[str, list[str], str]] = [
    ("requests", ["requests", "sent", "id_checks", "kiosk_helps", "drive_s", "drain_s"], ""),
    ("delivery", ["raised", "delivered", "lost", "duplicates"], "targets: lost 0, duplicates 0"),
    ("not duplicates", ["open_resends", "qos1_redeliveries_deduped", "lost_without_task"],
     "a task re-announced, or redelivered: one card per task id on the handheld"),
    ("claims", ["double_claims", "claimed_once", "claims_won", "claims_409", "claim_errors", "claimers_per_task"],
     "target: double_claims 0; claims_409 counts the warm-up's too"),
    ("answers", ["resolved", "resolve_errors", "done_in_db"], ""),
    ("chaos", ["broker_restarts", "daemon_kills", "events", "kiosk_retries", "kiosk_errors"], ""),
    ("kiosk->handheld", ["kiosk_to_handheld_p50_ms", "kiosk_to_handheld_p99_ms", "kiosk_to_handheld_max_ms",
                         "latency_samples"], f"target p99 <= {TARGET_P99_MS} ms, outside restart windows"),
    ("  overall", ["kiosk_to_handheld_p50_all_ms", "kiosk_to_handheld_p99_all_ms", "in_restarts_samples"],
     "every request, restart windows included"),
    ("baseline", ["floor_p50_ms", "floor_p99_ms", "p99_over_floor"],
     "plain QoS 1 publish -> receive on the same broker, no daemon"),
    ("before answer", ["handheld_before_kiosk_answer_share"], "the handheld had it before the kiosk had its answer"),
    ("kiosk requests", ["add_wine_rtt_p50_ms", "add_wine_rtt_p99_ms", "help_rtt_p50_ms", "help_rtt_p99_ms"], ""),
    ("handheld requests", ["claim_rtt_p50_ms", "claim_rtt_p99_ms", "resolve_rtt_p50_ms", "resolve_rtt_p99_ms"], ""),
    ("cpu ms per task", ["cpu_daemon", "cpu_daemon_restart", "cpu_broker", "cpu_kiosks", "cpu_handhelds",
                         "cpu_other"], "other: processes that are not this benchmark"),
    ("box", ["load_avg_1m", "box_cpu_busy_share"], f"on {os.cpu_count()} CPUs, shared"),
]  # fmt: skip


def report(result: dict[str, Any], as_json: bool) -> None:
    """One text line per theme, each figure under its JSON key name; the JSON object last."""
    if result.get("runs", 1) > 1:
        print(f"{'medians of':<18} runs {result['runs']}   p99_ms_per_run {result['p99_ms_per_run']}   "
              "(lost, duplicates, double_claims, open_resends: the worst run)")  # fmt: skip
    for label, keys, note in LINES:
        shown = "   ".join(f"{k} {result[k]}" for k in keys if k in result)
        print(f"{label:<18} {shown}" + (f"   ({note})" if note else ""))
    print(f"{'verdict':<18} {'PASS' if result['pass'] else 'FAIL'}")
    if as_json:
        print(json.dumps(result))
