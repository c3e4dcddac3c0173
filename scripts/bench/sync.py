#!/usr/bin/env python3
"""Cloud sync benchmark: the real daemon, the reference receiver on PostgreSQL, outages and kill -9.

Events come from two real paths: kiosks buying through the checkout HTTP API (session, items,
sandbox payment, exit gate: the orders stream, `--orders`), and, for volume, a writer process
calling `edge.audit.record` on the daemon's own database file, 4 per SQLite transaction like a
basket's commit (the audit stream, `-n`); plus fitting-room calls opened, claimed and resolved
through the fitting HTTP API (`--calls`). During the
run the cloud goes away (connection refused, then 500s) and the daemon is killed with SIGKILL
in the middle of an upload and restarted. At the end the cloud's rows are counted by event id.

    .venv/bin/python scripts/bench/sync.py [-n 100000] [--json]
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
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cloud.harness import Receiver, event_counts, stored_ids, temp_database  # noqa: E402
from tests.support.services import DaemonProcess  # noqa: E402

STORE, TOKEN = "bench-store", "bench-token"
# A busy store's day (see docs/sync.md): 4,000 baskets x 5 events (order, payment, exit pass, two
# audit rows), 1,500 fitting calls x 4, 3,000 face/consent/audit events, doubled for headroom.
BUSY_STORE_EVENTS_PER_DAY = 2 * (4_000 * 5 + 1_500 * 4 + 3_000)


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


BASKET = ("order.paid", "payment.captured", "exit_pass.issued", "cart.closed")


def _writer(data_dir: str, start: int, count: int, per_tx: int, out: Any) -> None:
    from edge import audit
    from edge.db import Database

    db = Database.in_dir(Path(data_dir))
    t0 = time.perf_counter()
    for first in range(start, start + count, per_tx):
        with db.session() as s:  # one domain transaction: the changes and their outbox rows together
            for i in range(first, min(start + count, first + per_tx)):
                action = BASKET[i % len(BASKET)]
                audit.record(s, "kiosk:bench", action, f"order-{i // len(BASKET)}", total_minor=1000 + i % 977)
    out.put(time.perf_counter() - t0)
    db.dispose()


def write_events(data_dir: Path, start: int, count: int, per_tx: int) -> float:
    """Events per second written by a separate process (the daemon keeps running meanwhile)."""
    q: mp.Queue[float] = mp.Queue()
    p = mp.Process(target=_writer, args=(str(data_dir), start, count, per_tx, q))
    p.start()
    took = q.get()
    p.join()
    return count / took


def seed_checkout(data_dir: Path, kiosks: int) -> dict[str, Any]:
    """Demo catalog plus kiosk and gate devices, written before the daemon starts."""
    from edge.access.service import AccessService
    from edge.app import prepare_storage
    from edge.checkout.catalog import import_products
    from edge.checkout.demo import demo_rows
    from edge.config import load_settings
    from edge.demo.gtins import GROCERY
    from edge.security import SecretStore, Signer

    settings = load_settings(None, overrides={"storage": {"data_dir": str(data_dir)}, "store": {"id": STORE}})
    db = prepare_storage(settings)
    import_products(db, demo_rows(settings.store.currency))
    access = AccessService(db, Signer("session", SecretStore(data_dir).keyring("session")))
    seeded = {
        "kiosks": [access.add_device(f"kiosk-{n}", "kiosk") for n in range(kiosks)],
        "gate": access.add_device("gate-1", "gate"),
        "guide": access.add_device("guide-1", "guide"),
        "codes": [g for g, _name, _price, cat in GROCERY if cat != "alcohol"],
    }
    db.dispose()
    return seeded


class OrderDriver:
    """Kiosks buying through the real checkout API: session, items, sandbox payment, exit gate."""

    def __init__(self, base: str, seeded: dict[str, Any], orders: int) -> None:
        self.base, self.seeded, self.orders = base, seeded, orders
        self.done = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def _kiosk(self, token: str, quota: int, seed: int) -> None:
        rng = random.Random(seed)
        k = {"Authorization": f"Bearer {token}"}
        g = {"Authorization": f"Bearer {self.seeded['gate']}"}
        with httpx.Client(base_url=self.base, timeout=30) as c:
            for _ in range(quota):
                try:
                    r = c.post("/api/kiosk/sessions", json={}, headers=k)
                    r.raise_for_status()
                    sid = r.json()["session_id"]
                    for code in rng.sample(self.seeded["codes"], 2):
                        c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": code, "qty": 1}, headers=k)
                    r = c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=k)
                    r.raise_for_status()
                    c.post("/api/gate/verify", json={"text": r.json()["exit_pass"]}, headers=g).raise_for_status()
                    with self.lock:
                        self.done += 1
                except (httpx.HTTPError, KeyError, ValueError) as exc:
                    with self.lock:
                        self.errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")

    def start(self) -> None:
        kiosks = self.seeded["kiosks"]
        quota = -(-self.orders // len(kiosks))
        for i, token in enumerate(kiosks):
            t = threading.Thread(target=self._kiosk, args=(token, quota, i), daemon=True)
            self.threads.append(t)
            t.start()

    def join(self) -> None:
        for t in self.threads:
            t.join()


ROOMS = [{"id": f"room-{i}", "zone": "main"} for i in range(4)]


class CallDriver:
    """Fitting-room calls through the real API: the phone opens a call, a guide claims and resolves it."""

    def __init__(self, base: str, data_dir: Path, guide: str, calls: int, cfg: dict[str, Any]) -> None:
        from edge.config import load_settings
        from edge.fitting.codes import RoomCodes
        from edge.security import SecretStore

        settings = load_settings(None, overrides={**cfg, "storage": {"data_dir": str(data_dir)}})
        codes = RoomCodes(settings, SecretStore(data_dir))
        self.rooms = [codes.token(str(r["id"])) for r in ROOMS]
        self.base, self.guide, self.calls = base, guide, calls
        self.done = 0
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        g = {"Authorization": f"Bearer {self.guide}"}
        with httpx.Client(base_url=self.base, timeout=30) as c:
            for n in range(self.calls):
                try:
                    body = {"kind": "help", "note": f"bench {n}", "request_id": f"bench-call-{n:08d}"}
                    r = c.post(
                        f"/api/fitting/rooms/{self.rooms[n % len(self.rooms)]}/calls",
                        json=body,
                        headers={"X-Phone-Id": f"phone-{n:08d}"},
                    )
                    r.raise_for_status()
                    call_id = r.json()["call"]["id"]
                    c.post(f"/api/fitting/calls/{call_id}/claim", headers=g).raise_for_status()
                    c.post(f"/api/fitting/calls/{call_id}/resolve", headers=g).raise_for_status()
                    self.done += 1
                except (httpx.HTTPError, KeyError, ValueError) as exc:
                    self.errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")

    def start(self) -> None:
        self.thread.start()

    def join(self) -> None:
        self.thread.join()


def unsent(data_dir: Path) -> int:
    conn = sqlite3.connect(f"file:{data_dir / 'edge.db'}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox_event WHERE sent_at IS NULL").fetchone()[0])
    finally:
        conn.close()


def all_event_ids(data_dir: Path) -> set[str]:
    conn = sqlite3.connect(data_dir / "edge.db")
    try:
        return {r[0] for r in conn.execute("SELECT event_id FROM outbox_event")}
    finally:
        conn.close()


def stream_counts(data_dir: Path) -> dict[str, int]:
    conn = sqlite3.connect(data_dir / "edge.db")
    try:
        return {r[0]: r[1] for r in conn.execute("SELECT stream, count(*) FROM outbox_event GROUP BY stream")}
    finally:
        conn.close()


def wait_unsent(data_dir: Path, at_most: int, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if unsent(data_dir) <= at_most:
            return time.monotonic() - t0
        time.sleep(0.05)
    raise TimeoutError(f"backlog still {unsent(data_dir)} after {timeout}s")


def wait_drop_below(data_dir: Path, level: int, timeout: float) -> float:
    """When the backlog starts moving (the uploader may still be in a backoff sleep)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if unsent(data_dir) < level:
            return time.monotonic()
        time.sleep(0.02)
    raise TimeoutError("the backlog never started draining")


def run(n: int, per_tx: int, orders: int, calls: int, work: Path, log: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "events": n,
        "write_path": f"edge.audit.record x{per_tx} per SQLite transaction (a basket's order, payment, exit pass "
        "and cart rows commit together), from a second process; plus kiosk orders through the checkout HTTP "
        "API (--orders) and fitting calls through the fitting HTTP API (--calls)",
    }
    out.update(sqlite_baseline(work))
    log(
        f"baseline: {out['sqlite_single_commits_per_s']} single-row durable commits/s, "
        f"{out['sqlite_batched_rows_per_s']} rows/s batched"
    )
    with temp_database() as dsn:
        rx = Receiver(dsn, {STORE: TOKEN}, work / "receiver.log")
        rx.start()
        data = work / "data"
        seeded = seed_checkout(data, kiosks=4)
        cfg = {
            "store": {"id": STORE},
            "mqtt": {"url": "mqtt://127.0.0.1:9"},
            "sync": {
                "url": rx.url,
                "backoff_initial_s": 0.2,
                "backoff_max_s": 2.0,
                "idle_poll_s": 0.2,
                "downsync_enabled": False,
            },
            "logging": {"level": "WARNING"},
            "fitting": {"rooms": ROOMS, "calls_per_phone_per_minute": 100000, "active_calls_per_room": 100000},
        }
        daemon = DaemonProcess(data, config=cfg, env={"RETAIL_EDGE_SECRET_SYNC_TOKEN": TOKEN})
        daemon.start()
        try:
            live = min(5_000, max(1, n // 10))
            out["write_events_per_s"] = round(write_events(data, 0, live, per_tx))
            wait_unsent(data, 0, 120)
            log(f"live phase: {live} events written at {out['write_events_per_s']}/s and synced")

            rx.stop()  # outage part 1: connection refused
            outage_t0 = time.monotonic()
            driver = OrderDriver(daemon.url, seeded, orders) if orders else None
            caller = CallDriver(daemon.url, data, seeded["guide"], calls, cfg) if calls else None
            for drv in (driver, caller):  # real orders and calls through the HTTP APIs, beside the bulk writer
                if drv:
                    drv.start()
            write_events(data, live, n - live, per_tx)
            if driver:
                driver.join()
                out["orders_via_checkout_api"] = driver.done
                out["order_errors"] = len(driver.errors)
                if driver.errors:
                    log(f"checkout API errors (first): {driver.errors[0]}")
                log(f"orders: {driver.done} through the checkout HTTP API during the outage")
            if caller:
                caller.join()
                out["calls_via_fitting_api"] = caller.done
                out["call_errors"] = len(caller.errors)
                if caller.errors:
                    log(f"fitting API errors (first): {caller.errors[0]}")
                log(f"calls: {caller.done} opened, claimed and resolved through the fitting HTTP API")
            rx.start(faults={"mode": "error", "retry_after": 1})  # outage part 2: the cloud answers 500
            time.sleep(3)
            out["cloud_outages"] = 1
            out["outage_s"] = round(time.monotonic() - outage_t0, 1)
            backlog = unsent(data)
            out["backlog_after_outage"] = backlog
            log(f"outage: {out['outage_s']} s (refused, then 500s); backlog {backlog} events")

            rx.faults(mode="ok")
            t0 = wait_drop_below(data, backlog, 60)
            wait_unsent(data, backlog // 2, 600)
            first_s = time.monotonic() - t0
            first = backlog - unsent(data)
            daemon.kill9()  # mid-drain: a batch is in flight or being marked
            left_at_kill = unsent(data)
            t_kill = time.monotonic()
            daemon.start()
            t1 = time.monotonic()
            second_s = wait_unsent(data, 0, 600)
            drain_wall = time.monotonic() - t0
            rates = [first / first_s, left_at_kill / max(second_s, 1e-6)]
            out["daemon_kills"] = daemon.kills
            out["events_per_s"] = round((first + left_at_kill) / (first_s + second_s))
            out["events_per_s_segments"] = [round(r) for r in rates]
            out["drain_s"] = round(first_s + second_s, 1)
            out["drain_wall_s_with_restart"] = round(drain_wall, 1)
            out["restart_s"] = round(t1 - t_kill, 1)
            out["drain_100k_s"] = round(100_000 / out["events_per_s"], 1)
            out["busy_store_24h_events"] = BUSY_STORE_EVENTS_PER_DAY
            out["busy_store_24h_drain_s"] = round(BUSY_STORE_EVENTS_PER_DAY / out["events_per_s"], 1)
            log(
                f"drain: {backlog} events in {out['drain_s']} s of daemon uptime ({out['events_per_s']}/s; "
                f"segments {out['events_per_s_segments']}), kill -9 at {left_at_kill} left"
            )

            written = all_event_ids(data)
            stored = stored_ids(dsn)
            counts = event_counts(dsn)
            stats = rx.stats()
            out["events"] = len(written)
            out["events_by_stream"] = stream_counts(data)
            out["stored"] = len(written & stored)
            out["lost"] = len(written - stored)
            out["duplicates"] = (counts["rows"] - counts["distinct"]) + (counts["effects"] - counts["distinct"])
            out["resent_and_deduped"] = stats["duplicates"]
        finally:
            daemon.stop()
            rx.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--events", type=int, default=100_000)
    ap.add_argument("--orders", type=int, default=300, help="orders through the checkout HTTP API (0: none)")
    ap.add_argument("--calls", type=int, default=100, help="fitting calls through the fitting HTTP API (0: none)")
    ap.add_argument("--per-tx", type=int, default=4, help="events per domain transaction (a basket writes 4)")
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = ap.parse_args()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        res = run(args.events, args.per_tx, args.orders, args.calls, Path(tmp), log)
    res["box"] = f"{os.cpu_count()} cores, shared with other work (numbers are noisy)"
    rows = [
        ("events", res["events"], f"by stream {res['events_by_stream']}"),
        ("orders_via_checkout_api", res.get("orders_via_checkout_api", 0), f"errors {res.get('order_errors', 0)}"),
        ("calls_via_fitting_api", res.get("calls_via_fitting_api", 0), f"errors {res.get('call_errors', 0)}"),
        ("stored", res["stored"], ""),
        ("lost", res["lost"], "target 0"),
        ("duplicates", res["duplicates"], "target 0 (rows or effects applied twice)"),
        ("daemon_kills", res["daemon_kills"], "kill -9 mid-upload"),
        ("cloud_outages", res["cloud_outages"], f"{res['outage_s']} s: refused, then 500s"),
        ("resent_and_deduped", res["resent_and_deduped"], "resends the receiver absorbed"),
        (
            "events_per_s",
            res["events_per_s"],
            f"target >= 5000; baseline {res['sqlite_single_commits_per_s']} single-row durable commits/s",
        ),
        ("drain_100k_s", res["drain_100k_s"], f"backlog {res['backlog_after_outage']} drained in {res['drain_s']} s"),
        ("busy_store_24h_drain_s", res["busy_store_24h_drain_s"], f"{res['busy_store_24h_events']} events/day"),
        ("write_events_per_s", res["write_events_per_s"], f"domain writes ({args.per_tx} per transaction)"),
    ]
    for name, value, note in rows:
        log(f"{name:>24}: {value!s:>10}  {note}")
    log(f"write path: {res['write_path']}")
    if args.json:
        print(json.dumps(res))
    ok = res["lost"] == 0 and res["duplicates"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
