#!/usr/bin/env python3
"""Chain benchmark (issue 18), the part built so far: coupons single use across the chain, members and wallets.

    .venv/bin/python scripts/bench/chain.py [--kiosks 6] [--rounds 30] [--members 100000]
        [--coupons-per-member 10] [--wallet-rounds 30] [--skip-wallets] [--json]

Two daemons (`python -m edge run`, two stores, SQLite on disk) against the reference cloud
receiver on a temporary PostgreSQL database. The bench issues single-use coupons with the
chain's coupon key (box B holds a copy of box A's own key ring, made before the start; the
cloud's key delivery adds the chain's keys and keeps a box's own, so these still verify), and
`--kiosks` kiosk pairs (one kiosk on each box) run rounds; in each round a pair
either pays with **the same coupon on both boxes at the same moment** (a barrier before the two
checkouts), or each box pays with a coupon of its own, or pays without a coupon (the baseline,
interleaved in the same run). The rounds run in three phases: cloud up, **cloud down** (the
receiver stopped: the offline policy `store` decides), cloud up again.

Figures (`--json`: one JSON object on the last line):
- `stores`, `boxes`, `coupons_issued`, `redemptions` (paid orders with a coupon);
- `double_redemptions_online`: coupons paid twice while both checkouts could reserve at the
  cloud (must be 0), checked against the cloud's own `coupon_use` rows too;
- `over_redemptions_offline`: coupons paid on both boxes during the outage (the policy allows
  once per box), and `over_uses_unreported`: those the cloud's report does not list once both
  boxes' orders arrived (must be 0);
- `checkout_p50_ms` / `checkout_p99_ms`: a checkout with a coupon reserved at the cloud (request
  to answer, on the kiosk), beside `baseline_checkout_p50_ms` / `_p99_ms` without a coupon.

Then, with the receiver and both daemons still running (down-sync polls every 0.5 s), the members
and wallets phase (scripts/bench/chain_wallets.py; `--skip-wallets` leaves it out, its figures
null): `--members` members upserted at the cloud and down-synced to both boxes
(`members_downsync_s`), one campaign of `--coupons-per-member` coupons into every wallet, each
store receiving its home members' wallets (`wallet_coupons_issued`, `campaign_issue_s`,
`wallet_downsync_s`), then `--wallet-rounds` rounds per kiosk pair, and per pair of shoppers'
phones (scan-and-go, scripts/bench/chain_phone.py), where members scan their signed member code
and pay with the wallet coupon that applies by itself, alone or at both boxes at the same moment:
`wallet_redemptions` (`wallet_phone_redemptions` of them on phones), `wallet_double_redemptions` (must be 0),
`wallet_checkout_p50_ms` / `_p99_ms`.
Last, a second box of store A (A2, forwarding its gate's checks to A1, the gate box; `--pass-rounds`,
0 to skip, figures null) for scripts/bench/chain_passes.py: passes issued on one box open the
other's gate once and every replay at either gate is refused (`passes_crossing_boxes`,
`pass_replays_refused`, `pass_replays_accepted` must be 0); then carts on all three boxes scan
one of three guides' codes, or none, before paying, and the cloud's copy of each order's
attribution is compared with the bench's record (`attributed_sales`, `attribution_errors` must
be 0).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chain_passes import store_boxes_phase  # noqa: E402
from chain_wallets import FIGURES as WALLET_FIGURES  # noqa: E402
from chain_wallets import rows as wallet_rows  # noqa: E402
from chain_wallets import wallet_phase  # noqa: E402
from stats import pct  # noqa: E402

from cloud.harness import Receiver, temp_database  # noqa: E402
from edge.access.service import AccessService  # noqa: E402
from edge.app import prepare_storage  # noqa: E402
from edge.checkout.catalog import import_products  # noqa: E402
from edge.config import load_settings  # noqa: E402
from edge.demo.catalog import demo_rows  # noqa: E402
from edge.demo.gtins import GROCERY  # noqa: E402
from edge.platform.codes import Codes  # noqa: E402
from edge.platform.security import SecretStore, Signer  # noqa: E402
from tests.support.services import DaemonProcess  # noqa: E402
from tests.support.waits import wait_for  # noqa: E402

STORES = {"bench-a": "tok-bench-a", "bench-b": "tok-bench-b"}
TEA = GROCERY[0][0]
TARGETS = {"double_redemptions_online": 0, "over_uses_unreported": 0, "checkout_p99_ms": 150.0}


def seed(data: Path, store: str, kiosks: int) -> list[str]:
    """The demo catalog, the store's cloud token and its kiosks, before the daemon starts."""
    settings = load_settings(None, overrides={"storage": {"data_dir": str(data)}, "store": {"id": store}})
    db = prepare_storage(settings)
    import_products(db, demo_rows(settings.store.currency))
    access = AccessService(db, Signer("session", SecretStore(data).keyring("session")))
    tokens = [str(access.add_device(f"kiosk-{n}", "kiosk")) for n in range(kiosks)]
    db.dispose()
    (data / "secrets").mkdir(mode=0o700, exist_ok=True)
    (data / "secrets" / "sync_token").write_text(STORES[store])
    (data / "secrets" / "sync_token").chmod(0o600)
    return tokens


def issue(codes: Codes, n: int) -> dict[str, str]:
    """Single-use coupons signed with the chain's key (what the cloud's campaign would issue): code -> id."""
    now = datetime.now(UTC)
    return {
        codes.coupon_code({
            "c": f"cp-bench-{i}", "s": f"{i:08x}", "k": "percent", "v": 10, "min": 0, "lim": 0, "off": "store",
            "nbf": int((now - timedelta(minutes=5)).timestamp()), "exp": int((now + timedelta(days=1)).timestamp()),
            "n": f"bench coupon {i}",
        }): f"cp-bench-{i}"
        for i in range(n)
    }  # fmt: skip


class Kiosk:
    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def cart(self) -> str:
        """A new session with one tea in its cart: its id."""
        sid = str(self.http.post("/api/kiosk/sessions", json={}).json()["session_id"])
        r = self.http.post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA})
        assert r.status_code == 201, r.text
        return sid

    def attach(self, sid: str, code: str) -> httpx.Response:
        return self.http.post(f"/api/kiosk/sessions/{sid}/member", json={"code": code})

    def pay(self, sid: str, barrier: threading.Barrier | None) -> tuple[int, float, str, str]:
        """(status, checkout ms, error code, order id) of the cart's checkout, after the barrier if any."""
        if barrier is not None:
            barrier.wait(30)
        t0 = time.perf_counter()
        r = self.http.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"})
        ms = (time.perf_counter() - t0) * 1000
        if r.status_code == 200:
            return 200, ms, "", str(r.json()["order_id"])
        return r.status_code, ms, r.json()["error"]["code"], ""

    def buy(self, coupon: str | None, barrier: threading.Barrier | None) -> tuple[int, float, str]:
        """(status, checkout ms, error code) for one cart of tea, with the coupon if any."""
        sid = self.cart()
        if coupon is not None:
            r = self.http.post(f"/api/kiosk/sessions/{sid}/coupons", json={"code": coupon})
            if r.status_code != 200:
                return r.status_code, 0.0, r.json()["error"]["code"]
        return self.pay(sid, barrier)[:3]


def one(out: list[dict[str, Any]], phase: str, kind: str, k: Kiosk, box: str, coupon: str | None,
        barrier: threading.Barrier | None) -> None:  # fmt: skip
    status, ms, code = k.buy(coupon, barrier)
    out.append({"phase": phase, "kind": kind, "box": box, "coupon": coupon, "status": status, "ms": ms,
                "code": code})  # fmt: skip


def run_phase(pairs: list[tuple[Kiosk, Kiosk]], coupons: list[str], rounds: int, phase: str,
              log: list[dict[str, Any]]) -> None:  # fmt: skip
    """`rounds` rounds on every kiosk pair: contested, own coupons, or none, in turn."""
    lock = threading.Lock()

    def pair_loop(n: int, a: Kiosk, b: Kiosk) -> None:
        for r in range(rounds):
            kind = ("contested", "own", "none")[(r + n) % 3]
            with lock:
                mine = [coupons.pop() for _ in range({"contested": 1, "own": 2, "none": 0}[kind])]
            jobs: list[tuple[Kiosk, str, str | None, threading.Barrier | None]]
            if kind == "contested":
                barrier = threading.Barrier(2)
                jobs = [(a, "a", mine[0], barrier), (b, "b", mine[0], barrier)]
            else:
                jobs = [(a, "a", mine[0] if mine else None, None), (b, "b", mine[1] if mine else None, None)]
            out: list[dict[str, Any]] = []
            threads = [threading.Thread(target=one, args=(out, phase, kind, *job)) for job in jobs]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            with lock:
                log.extend(out)

    threads = [threading.Thread(target=pair_loop, args=(n, a, b)) for n, (a, b) in enumerate(pairs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def figures(
    log: list[dict[str, Any]], ids: dict[str, str], reported: list[dict[str, Any]], cloud_rows: list[Any]
) -> dict[str, Any]:
    paid = [e for e in log if e["status"] == 200]
    by_coupon: dict[str, list[dict[str, Any]]] = {}
    for e in paid:
        if e["coupon"]:
            by_coupon.setdefault(e["coupon"], []).append(e)
    twice = {c: es for c, es in by_coupon.items() if len(es) > 1}
    online = [c for c, es in twice.items() if all(e["phase"] != "offline" for e in es)]
    offline = [c for c, es in twice.items() if any(e["phase"] == "offline" for e in es)]
    committed: dict[str, int] = {}
    for row in cloud_rows:
        committed[row[0]] = committed.get(row[0], 0) + 1
    reported_ids = {r["coupon_id"] for r in reported}
    with_coupon = [e["ms"] for e in paid if e["coupon"] and e["phase"] != "offline"]
    without = [e["ms"] for e in paid if not e["coupon"] and e["phase"] != "offline"]
    return {
        "stores": 2, "boxes": 2, "coupons_issued": len(ids), "redemptions": sum(len(v) for v in by_coupon.values()),
        "double_redemptions_online": len(online) + sum(1 for n in committed.values() if n > 1),
        "over_redemptions_offline": len(offline),
        "over_uses_unreported": sum(1 for c in offline if ids[c] not in reported_ids),
        "refused_coupon_used": sum(1 for e in log if e["code"] == "coupon_used"),
        "checkout_p50_ms": pct(with_coupon, 0.5), "checkout_p99_ms": pct(with_coupon, 0.99),
        "baseline_checkout_p50_ms": pct(without, 0.5), "baseline_checkout_p99_ms": pct(without, 0.99),
        "orders": len(paid), "errors": sum(1 for e in log if e["status"] not in (200, 409)),
        **dict.fromkeys(WALLET_FIGURES), "passes_crossing_boxes": None, "pass_replays_refused": None,
        "pass_replays_accepted": None, "pass_errors": None, "guided_orders": None, "attributed_sales": None,
        "attribution_errors": None,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiosks", type=int, default=6, help="Kiosk pairs (one kiosk on each box).")
    ap.add_argument("--rounds", type=int, default=30, help="Rounds per pair in each of the three phases.")
    ap.add_argument("--members", type=int, default=100_000, help="Members upserted at the cloud (half per store).")
    ap.add_argument("--coupons-per-member", type=int, default=10, help="Wallet coupons per member (1 to 20).")
    ap.add_argument("--wallet-rounds", type=int, default=30, help="Wallet redemption rounds per kiosk pair.")
    ap.add_argument("--skip-wallets", action="store_true", help="Run the coupon phases only.")
    ap.add_argument("--pass-rounds", type=int, default=30, help="Passes across store A's two boxes (0: skip).")
    ap.add_argument("--guided-rounds", type=int, default=10, help="Carts per kiosk, each served by a guide or not.")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chain-bench-") as tmp_name, temp_database() as dsn:
        tmp = Path(tmp_name)
        rx = Receiver(dsn, STORES, tmp / "receiver.log")
        rx.start()
        daemons: list[DaemonProcess] = []
        try:
            tokens = {}
            for store in STORES:
                data = tmp / store
                tokens[store] = seed(data, store, args.kiosks)
            ids = issue(Codes(SecretStore(tmp / "bench-a")), args.kiosks * args.rounds * 3 * 2)
            shutil.copy(tmp / "bench-a" / "secrets" / "coupon.keys.json", tmp / "bench-b" / "secrets")
            for store in STORES:
                cfg = {"store": {"id": store}, "checkout": {"audit_share": 0.0},
                       "sync": {"url": rx.url, "downsync_interval_s": 0.5, "idle_poll_s": 0.2,
                                "backoff_initial_s": 0.2, "backoff_max_s": 1.0}}  # fmt: skip
                d = DaemonProcess(tmp / store, config=cfg)
                d.start()
                daemons.append(d)
            pairs = [(Kiosk(daemons[0].url, ta), Kiosk(daemons[1].url, tb))
                     for ta, tb in zip(tokens["bench-a"], tokens["bench-b"], strict=True)]  # fmt: skip
            coupons, log = list(ids), list[dict[str, Any]]()
            run_phase(pairs, coupons, args.rounds, "online", log)
            rx.stop()
            run_phase(pairs, coupons, args.rounds, "offline", log)
            rx.start()
            run_phase(pairs, coupons, args.rounds, "online-again", log)
            orders = sum(1 for e in log if e["status"] == 200)

            def arrived() -> bool:
                with psycopg.connect(dsn) as conn:
                    row = conn.execute("SELECT count(*) FROM edge_event WHERE kind = 'order.paid'").fetchone()
                return bool(row and row[0] >= orders)

            wait_for(arrived, 120, "every order to reach the cloud")
            admin = {"Authorization": f"Bearer {rx.admin_token}"}
            reported = httpx.get(rx.url + "/v1/admin/coupons/over-uses", headers=admin, timeout=30).json()["over_uses"]
            with psycopg.connect(dsn) as conn:
                rows = conn.execute("SELECT coupon_id FROM coupon_use WHERE status = 'committed'").fetchall()
            f = figures(log, ids, reported, rows)
            if not args.skip_wallets:
                dirs = {store: tmp / store for store in STORES}
                f |= wallet_phase(rx, dsn, dirs, pairs, args.members, args.coupons_per_member, args.wallet_rounds)
            if args.pass_rounds:  # a second box of store A: passes across the boxes, and guides' credit
                sync = {"downsync_interval_s": 0.5, "idle_poll_s": 0.2, "backoff_initial_s": 0.2, "backoff_max_s": 1.0}
                f |= store_boxes_phase(tmp, rx.url, dsn, daemons[0], daemons[1], sync, "bench-a", args.pass_rounds,
                                       args.guided_rounds, TEA)  # fmt: skip
        finally:
            for d in daemons:
                d.stop()
            rx.stop()
    f["total_s"] = round(time.monotonic() - t_start, 1)
    show(f)
    if args.json:
        print(json.dumps(f))
    return 0


def show(f: dict[str, Any]) -> None:
    def mark(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    p99 = f["checkout_p99_ms"]
    rows = [
        ("stores / boxes / coupons issued", f"{f['stores']} / {f['boxes']} / {f['coupons_issued']}", "", ""),
        ("orders / with a coupon / refused coupon_used", f"{f['orders']} / {f['redemptions']} / "
         f"{f['refused_coupon_used']}", "", ""),
        ("double redemptions, cloud up", f["double_redemptions_online"],
         f"0  {mark(f['double_redemptions_online'] == 0)}", ""),
        ("over-redemptions during the outage / not reported", f"{f['over_redemptions_offline']} / "
         f"{f['over_uses_unreported']}", f"0 unreported  {mark(f['over_uses_unreported'] == 0)}", ""),
        ("checkout p50 / p99 ms, coupon reserved at the cloud", f"{f['checkout_p50_ms']} / {p99}",
         f"p99 <= 150  {mark(p99 is not None and p99 <= TARGETS['checkout_p99_ms'])}",
         f"no coupon {f['baseline_checkout_p50_ms']} / {f['baseline_checkout_p99_ms']}"),
        ("errors", f["errors"], f"0  {mark(f['errors'] == 0)}", ""),
        *wallet_rows(f),
        ("passes across store A's boxes / replays refused / accepted", f"{f['passes_crossing_boxes']} / "
         f"{f['pass_replays_refused']} / {f['pass_replays_accepted']}",
         f"0 accepted  {mark(f['pass_replays_accepted'] in (0, None))}", ""),
        ("guided orders / attributed / attribution errors", f"{f['guided_orders']} / {f['attributed_sales']} / "
         f"{f['attribution_errors']}", f"0 errors  {mark(f['attribution_errors'] in (0, None))}", ""),
    ]  # fmt: skip
    for name, value, target, base in rows:
        print(f"  {name:<52} {value!s:<22} {target:<20} {base}")


if __name__ == "__main__":
    sys.exit(main())
