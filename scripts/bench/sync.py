#!/usr/bin/env python3
"""Cloud sync benchmark: the real daemon, the reference receiver on PostgreSQL, outages and kill -9.

Events are written by two processes beside the daemon, on its own database file, through the
domains' service functions: baskets through the checkout services (session, two items, sandbox
payment, exit gate: 8 outbox events each, `--orders`), fitting-room calls opened, claimed and
resolved through the fitting call service (3 events, `--calls`), and audit rows (`tx.audit`,
4 per transaction) to make up `-n`, because a basket costs tens of milliseconds of CPU here. The
cloud goes away (connection refused, then 500s), the daemon is killed with SIGKILL while the
cloud holds a committed, unacknowledged batch, and restarted. At the end the cloud's rows are
counted by event id and by business key, and each stream's order is checked.

    .venv/bin/python scripts/bench/sync.py [-n 100000] [--orders 6000] [--calls 6000] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cloud.harness import Receiver, event_counts, out_of_order, stored_ids, temp_database  # noqa: E402
from tests.support.services import DaemonProcess  # noqa: E402

STORE, TOKEN = "bench-store", "bench-token"
# A busy store's day (see docs/sync.md): 4,000 baskets x 8 events (as this bench's baskets write:
# session, order, payment authorised and captured, exit pass issued and used, two audit rows),
# 1,500 fitting calls x 3 (open, claimed, resolved), 3,000 face/consent/staff audit events,
# doubled for headroom.
BUSY_STORE_EVENTS_PER_DAY = 2 * (4_000 * 8 + 1_500 * 3 + 3_000)


def sqlite_baseline(workdir: Path, seconds: float = 2.0) -> dict[str, float]:
    """Single-row durable commits/s and batched rows/s on this disk (WAL, synchronous=FULL)."""
    path = workdir / "baseline.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    body = "x" * 200
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t (body) VALUES (?)", (body,))
        conn.execute("COMMIT")
        n += 1
    single = n / (time.perf_counter() - t0)
    rows, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t (body) VALUES (?)", [(body,)] * 10_000)
        conn.execute("COMMIT")
        rows += 10_000
    batched = rows / (time.perf_counter() - t0)
    conn.close()
    return {"sqlite_single_commits_per_s": round(single), "sqlite_batched_rows_per_s": round(batched)}


ROOMS = [{"id": f"room-{i}", "zone": "main"} for i in range(4)]


def _settings(data_dir: Path) -> Any:
    from edge.config import load_settings

    return load_settings(
        None,
        overrides={
            "storage": {"data_dir": str(data_dir)},
            "store": {"id": STORE},
            "mqtt": {"url": "mqtt://127.0.0.1:9"},
            "logging": {"level": "WARNING"},
            "fitting": {
                "rooms": ROOMS,
                "calls_per_phone_per_minute": 100000,
                "active_calls_per_room": 100000,
                "calls_per_address_per_minute": 100000,
                "active_calls_per_phone": 100000,
                "active_calls_per_address": 100000,
            },
        },
    )


def _writer(data_dir: str, worker: str, orders: int, calls: int, audits: int, codes: list[str], out: Any) -> None:
    """One process buying, calling guides and auditing through the domains' own service functions."""

    from edge.bus import Bus
    from edge.checkout.component import CheckoutComponent
    from edge.fitting.component import FittingComponent
    from edge.fitting.models import CallIn
    from edge.fitting.phones import Phone
    from edge.platform.context import Context
    from edge.platform.security import SecretStore
    from edge.platform.store import Store
    from edge.scanning.component import ScanningComponent

    data = Path(data_dir)
    settings = _settings(data)
    db = Store.in_dir(data)
    ctx = Context(settings=settings, store=db, bus=Bus(), secrets=SecretStore(data))
    ScanningComponent(ctx)  # the store's GS1 layout for typed codes (the `codes` contract)
    co, fit = CheckoutComponent(ctx).services, FittingComponent(ctx).calls
    rng, kiosk, errors = random.Random(worker), f"kiosk-{worker}", []
    t0 = time.perf_counter()
    for n in range(max(orders, calls)):
        try:
            if n < orders:  # a basket: session, two items, sandbox payment, exit gate (8 outbox events)
                sid = co.sessions.open(kiosk).session_id
                for code in rng.sample(codes, 2):
                    co.sessions.add_code(sid, kiosk, code, 1)
                paid = co.checkout.checkout(sid, kiosk, provider="sandbox", actor=f"device:{kiosk}")
                co.gate.verify("gate-1", paid.exit_pass)
            if n < calls:  # a fitting-room call opened, claimed and resolved (3 events)
                room = settings.fitting.rooms[n % len(ROOMS)]
                body = CallIn(kind="help", note=f"bench {worker} {n}", request_id=f"{worker}-{n:08d}")
                call, _ = fit.open_call(room, body, Phone(f"ph:bench-{worker}-{n}", "127.0.0.1"))
                fit.claim(call.id, "guide-1", event_id=None, source="http")
                fit.resolve(call.id, "guide-1", manager=False, event_id=None, source="http")
        except Exception as exc:  # counted and shown; the bench fails on a lost or doubled event, not here
            errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
    for first in range(0, audits, 4):  # staff and device audit rows, 4 per transaction
        with db.write() as s:
            for i in range(first, min(audits, first + 4)):
                s.audit("kiosk:bench", "bench.audit", f"w{worker}-{i}", n=i)
    out.put((time.perf_counter() - t0, errors))
    db.dispose()


def write_events(
    data_dir: Path, phase: str, orders: int, calls: int, audits: int, codes: list[str], procs: int = 2
) -> dict[str, Any]:
    """The mix written by `procs` processes beside the daemon; returns rows written and their rate."""
    before = outbox_rows(data_dir)
    q: mp.Queue[tuple[float, list[str]]] = mp.Queue()
    share = [(orders // procs + (w < orders % procs), calls // procs + (w < calls % procs),
              audits // procs + (w < audits % procs)) for w in range(procs)]  # fmt: skip
    ps = [mp.Process(target=_writer, args=(str(data_dir), f"{phase}-{w}", *share[w], codes, q)) for w in range(procs)]
    t0 = time.perf_counter()
    for p in ps:
        p.start()
    results = [q.get() for _ in ps]
    took = time.perf_counter() - t0
    for p in ps:
        p.join()
    written = outbox_rows(data_dir) - before
    errors = [e for _, errs in results for e in errs]
    return {"written": written, "events_per_s": round(written / took), "s": round(took, 1), "errors": errors}


def _count(data_dir: Path, sql: str) -> int:
    """One number from the daemon's database, read-only (the daemon may be writing)."""
    conn = sqlite3.connect(f"file:{data_dir / 'edge.db'}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def outbox_rows(data_dir: Path) -> int:
    return _count(data_dir, "SELECT coalesce(max(seq), 0) FROM outbox_event")


def seed_checkout(data_dir: Path) -> list[str]:
    """Demo catalog, written before the daemon starts; returns the codes a basket picks from."""
    from edge.app import prepare_storage
    from edge.checkout.catalog import import_products
    from edge.demo.catalog import demo_rows
    from edge.demo.gtins import GROCERY

    settings = _settings(data_dir)
    db = prepare_storage(settings)
    import_products(db, demo_rows(settings.store.currency))
    db.dispose()
    return [g for g, _name, _price, cat in GROCERY if cat != "alcohol"]


def unsent(data_dir: Path) -> int:
    return _count(data_dir, "SELECT count(*) FROM outbox_event WHERE sent_at IS NULL")


def written_ids(data_dir: Path) -> tuple[set[str], set[str]]:
    """(every event id the store wrote, those of them in quarantine): a quarantined event left the outbox."""
    conn = sqlite3.connect(data_dir / "edge.db")
    try:
        quarantined = {r[0] for r in conn.execute("SELECT event_id FROM sync_quarantine")}
        return {r[0] for r in conn.execute("SELECT event_id FROM outbox_event")} | quarantined, quarantined
    finally:
        conn.close()


def kind_counts(data_dir: Path) -> dict[str, int]:
    conn = sqlite3.connect(data_dir / "edge.db")
    try:
        return {r[0]: r[1] for r in conn.execute("SELECT kind, count(*) FROM outbox_event GROUP BY kind")}
    finally:
        conn.close()


# The business key of each kind's effect: one payment, pass, order, call transition or audit row.
BUSINESS_KEY = "coalesce(payload->>'payment_id', payload->>'pass_id', payload->>'order_id', payload->>'id')"


def business_duplicates(dsn: str) -> tuple[int, int]:
    """(effects stored twice under different event ids, events with no business key) in PostgreSQL."""
    with psycopg.connect(dsn) as conn:
        dup = conn.execute(
            f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM edge_event "
            f"WHERE {BUSINESS_KEY} IS NOT NULL GROUP BY store_id, kind, {BUSINESS_KEY}) t"
        ).fetchone()
        unkeyed = conn.execute(f"SELECT count(*) FROM edge_event WHERE {BUSINESS_KEY} IS NULL").fetchone()
        for row in conn.execute(
            f"SELECT kind, {BUSINESS_KEY}, array_agg(seq ORDER BY seq), array_agg(left(payload::text, 300)) "
            f"FROM edge_event GROUP BY store_id, kind, {BUSINESS_KEY} HAVING count(*) > 1 LIMIT 3"
        ):
            print(f"effect stored twice: {row}", file=sys.stderr)
    assert dup is not None and unkeyed is not None
    return int(dup[0]), int(unkeyed[0])


def wait_unsent(data_dir: Path, at_most: int, timeout: float) -> float:
    """Blocks until at most `at_most` rows are unsent; returns the monotonic time it happened."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if unsent(data_dir) <= at_most:
            return time.monotonic()
        time.sleep(0.02)
    raise TimeoutError(f"backlog still {unsent(data_dir)} after {timeout}s")


def wait_for(cond: Any, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(what)
        time.sleep(0.02)


def run(n: int, orders: int, calls: int, work: Path, log: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out.update(sqlite_baseline(work))
    log(
        f"baseline: {out['sqlite_single_commits_per_s']} single-row durable commits/s, "
        f"{out['sqlite_batched_rows_per_s']} rows/s batched"
    )
    with temp_database() as dsn:
        rx = Receiver(dsn, {STORE: TOKEN}, work / "receiver.log")
        rx.start()
        data = work / "data"
        codes = seed_checkout(data)
        cfg = {
            "store": {"id": STORE},
            "mqtt": {"url": "mqtt://127.0.0.1:9"},
            "sync": {"url": rx.url, "backoff_initial_s": 0.2, "backoff_max_s": 2.0, "idle_poll_s": 0.2,
                     "downsync_enabled": False},
            "logging": {"level": "WARNING"},
        }  # fmt: skip
        daemon = DaemonProcess(data, config=cfg, env={"RETAIL_EDGE_SECRET_SYNC_TOKEN": TOKEN})
        daemon.start()
        try:
            live = write_events(data, "live", 20, 20, 1_000, codes)  # with the cloud up: synced as it is written
            wait_unsent(data, 0, 120)
            log(f"live phase: {live['written']} events written at {live['events_per_s']}/s and synced")

            rx.stop()  # outage part 1: connection refused
            outage_t0 = time.monotonic()
            audits = max(0, n - live["written"] - 8 * orders - 3 * calls)
            bulk = write_events(data, "bulk", orders, calls, audits, codes)
            out["write_events_per_s"], out["write_s"], out["write_errors"] = (
                bulk["events_per_s"],
                bulk["s"],
                len(bulk["errors"]),
            )
            if bulk["errors"]:
                log(f"domain write errors: {len(bulk['errors'])}, first: {bulk['errors'][0]}")
            log(f"outage: {bulk['written']} events written in {bulk['s']} s by 2 processes ({bulk['events_per_s']}/s)")
            rx.start(faults={"mode": "error", "retry_after": 1})  # outage part 2: the cloud answers 500
            wait_for(lambda: rx.stats()["faults_served"] >= 2, 30, "the daemon never met the 500s")
            out["faults_served"] = rx.stats()["faults_served"]
            out["cloud_outages"] = 1
            out["outage_s"] = round(time.monotonic() - outage_t0, 1)
            backlog = unsent(data)
            out["backlog_after_outage"] = backlog
            log(f"outage: {out['outage_s']} s (refused, then {out['faults_served']} 500s); backlog {backlog} events")

            rx.faults(mode="ok")
            t_up = time.monotonic()
            wait_unsent(data, backlog - 1, 60)
            t_first = time.monotonic()  # the uploader may have been in a backoff sleep until here
            wait_unsent(data, backlog // 2, 900)
            # kill -9 in the middle of an upload: the cloud commits the next batch and then hangs, so the
            # daemon dies holding a batch the cloud has and it has not marked.
            committed = rx.stats()["committed_batches"]
            rx.faults(mode="hang_after_commit", delay_s=60, remaining=1)
            wait_for(lambda: rx.stats()["committed_batches"] > committed, 30, "no batch committed before the kill")
            daemon.kill9()
            t_kill, left_at_kill = time.monotonic(), unsent(data)
            rx.faults(mode="ok")
            t_launch = time.monotonic()  # the rate's clock restarts at process launch, not at ready
            daemon.start()
            t_ready = time.monotonic()
            t_end = wait_unsent(data, 0, 900)
            first, first_s = backlog - left_at_kill, t_kill - t_first
            second_s = t_end - t_launch
            out["daemon_kills"] = daemon.kills
            out["events_per_s"] = round((first + left_at_kill) / (first_s + second_s))
            out["events_per_s_segments"] = [round(first / first_s), round(left_at_kill / second_s)]
            out["restart_to_ready_s"] = round(t_ready - t_launch, 1)
            out["backlog_drain_s"] = round(t_end - t_up, 1)
            out["busy_store_24h_events"] = BUSY_STORE_EVENTS_PER_DAY
            out["busy_store_24h_drain_s"] = round(BUSY_STORE_EVENTS_PER_DAY / out["events_per_s"], 1)
            log(
                f"drain: {backlog} events in {out['backlog_drain_s']} s wall from the cloud's return, kill -9 and "
                f"restart included ({out['events_per_s']}/s with the daemon up; segments "
                f"{out['events_per_s_segments']}), kill -9 at {left_at_kill} left"
            )

            written, quarantined = written_ids(data)
            stored = stored_ids(dsn)
            counts = event_counts(dsn)
            stats = rx.stats()
            out["events"] = len(written)
            out["events_by_kind"] = kind_counts(data)
            out["real_domain_events"] = len(written) - out["events_by_kind"].get("bench.audit", 0)
            out["stored"] = len(written & stored)
            out["quarantined"] = len(quarantined)
            out["lost"] = len(written - stored)  # quarantined events never reached the cloud: they count here
            out["unknown_in_cloud"] = len(stored - written)
            business, out["events_without_business_key"] = business_duplicates(dsn)
            out["duplicates_by_event_id"] = counts["rows"] - counts["distinct"]
            out["duplicate_effects"] = (counts["effects"] - counts["distinct"]) + business
            out["duplicates"] = out["duplicates_by_event_id"] + out["duplicate_effects"]
            out["out_of_order"] = out_of_order(dsn)
            out["resent_and_deduped"] = stats["duplicates"]
        finally:
            daemon.stop()
            rx.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--events", type=int, default=100_000)
    ap.add_argument("--orders", type=int, default=6_000, help="baskets through the checkout services (8 events each)")
    ap.add_argument(
        "--calls", type=int, default=6_000, help="fitting calls through the fitting service (3 events each)"
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = ap.parse_args()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        res = run(args.events, args.orders, args.calls, Path(tmp), log)
    res["box"] = f"{os.cpu_count()} cores, shared with other work (numbers are noisy)"
    ok = (
        res["lost"] == 0 and res["duplicates"] == 0 and res["out_of_order"] == 0 and res["unknown_in_cloud"] == 0
        and res["resent_and_deduped"] > 0 and res["faults_served"] > 0 and res["daemon_kills"] > 0
    )  # fmt: skip
    rows = [
        ("events", res["events"], f"{res['real_domain_events']} via checkout/fitting services, the rest audit rows"),
        ("stored", res["stored"], "in PostgreSQL, by event id"),
        ("lost", res["lost"], f"target 0 (quarantined {res['quarantined']} count as lost)"),
        ("duplicates", res["duplicates"], f"target 0: by event id {res['duplicates_by_event_id']}, "
         f"effects (same order/payment/pass/call/audit id twice) {res['duplicate_effects']}"),
        ("out_of_order", res["out_of_order"], "target 0: events stored after a later one of their stream"),
        ("daemon_kills", res["daemon_kills"], "kill -9 with a committed, unacknowledged batch"),
        ("cloud_outages", res["cloud_outages"], f"{res['outage_s']} s: refused, then {res['faults_served']} 500s"),
        ("resent_and_deduped", res["resent_and_deduped"], "resends the receiver absorbed (must be > 0)"),
        ("events_per_s", res["events_per_s"], f"target >= 5000, daemon up, clock from process launch; baseline "
         f"{res['sqlite_single_commits_per_s']} single-row durable commits/s"),
        ("backlog_drain_s", res["backlog_drain_s"], f"backlog {res['backlog_after_outage']}, measured wall time "
         "from the cloud's return, kill -9 and restart included"),
        ("busy_store_24h_drain_s", res["busy_store_24h_drain_s"], f"{res['busy_store_24h_events']} events/day"),
        ("write_events_per_s", res["write_events_per_s"], f"domain writes, 2 processes, {res['write_errors']} errors"),
    ]  # fmt: skip
    for name, value, note in rows:
        log(f"{name:>24}: {value!s:>10}  {note}")
    log("result: " + ("ok" if ok else "FAILED"))
    if args.json:
        print(json.dumps(res))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
