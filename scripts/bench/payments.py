#!/usr/bin/env python3
"""Payments benchmark: the real daemon on both payment rails, against both gateway simulators.

    .venv/bin/python scripts/bench/payments.py [--kiosks 20] [--payments 1000] [--latency-ms 300] [--json]

It starts the WeChat Pay and Alipay simulators (cloud/gateways: they verify the box's signatures
and sign their answers; every call takes `--latency-ms`), then `python -m edge run` in production
mode with `qr_acquirer = "rails"`, and 20 kiosks (in several processes) that each loop: open a
cart, add 2-4 items, pay on a random rail. 80% pay with a fresh wallet payment code, its fault
scripted at the simulator: about 10% "waiting for the user" (a password for 0.5-3 s), 5% timeouts
(the answer is held past the box's 1.5 s timeout; the money was taken), 2% HTTP 500s (taken), 2%
declines (the shopper then pays again with a new code); the rest pay at once. 20% pay in the
wallet app: the kiosk places the wallet order, the shopper pays at the gateway, and the kiosk
polls until the exit pass comes; 10% of those notifications are lost, 10% sent twice. At the end
100 notifications signed with a wrong key are sent for real in-app orders. Then (with the shared
face models and photos) the daemon restarts with two face cameras and `--face-payments` face-pay
checkouts charge members' wallet agreements (facepay_rails.py).

Baseline, same run: the same rails called straight from this process (no box, no HTTP, no
database), 40 payments: the gateway's own share of pay-to-pass.

Figures come from the simulators' own ledgers, not the box's:
- `double_charges`: carts with money taken (net of refunds) by more than one trade;
- `orphan_holds`: after the run settles, money taken at a gateway for a payment with no order at
  the box, plus orders at the box whose money no gateway holds;
- `pay_to_pass_*`: the kiosk's "pay" to the exit pass in the answer, waiting-for-the-user cases left out.
`--json` prints the figures as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
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

from cloud.gateways import Behaviour  # noqa: E402
from edge.access.service import AccessService  # noqa: E402
from edge.app import prepare_storage  # noqa: E402
from edge.checkout.catalog import import_products  # noqa: E402
from edge.checkout.railsetup import build_rails  # noqa: E402
from edge.checkout.settings import CheckoutSettings, RailSettings  # noqa: E402
from edge.config import load_settings  # noqa: E402
from edge.demo.catalog import demo_rows  # noqa: E402
from edge.demo.gtins import GROCERY  # noqa: E402
from edge.platform.ids import new_id  # noqa: E402
from edge.platform.security import SecretStore, Signer  # noqa: E402
from tests.support.rails import gateways, wallet_code  # noqa: E402
from tests.support.services import DaemonProcess, free_port  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import facepay_rails  # noqa: E402
from groups import run_groups  # noqa: E402
from stats import pct  # noqa: E402

TARGETS = {
    "double_charges": 0,
    "orphan_holds": 0,
    "pay_to_pass_p95_ms": 3000.0,
    "inapp_pay_to_pass_p95_ms": 3000.0,
    "face_pay_to_pass_p95_ms": 3000.0,
}
CODES = [g for g, *_ in GROCERY if g != GROCERY[5][0]]  # no age-restricted item (it waits for staff)
MIX = [("wait", 0.10), ("timeout", 0.05), ("error500", 0.02), ("decline", 0.02)]  # the rest: success
INAPP_SHARE = 0.2  # of payments made inside the wallet app (the phone flows)
INAPP_MIX = [("lose_notification", 0.1), ("duplicate_notification", 0.1)]  # the rest: notified once


def outcome(rng: random.Random, mix: list[tuple[str, float]]) -> str:
    roll, edge = rng.random(), 0.0
    for name, share in mix:
        edge += share
        if roll < edge:
            return name
    return "success"


def pay_code(c: httpx.Client, k: dict[str, str], sid: str, code: str) -> httpx.Response:
    return c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "qr", "payment_code": code}, headers=k)


def pay_in_app(c: httpx.Client, k: dict[str, str], sid: str, rail: str, kind: str, control: str) -> str:
    """Place the wallet order, script its notification, the shopper pays at the gateway, then the
    kiosk watches until the exit pass comes (by the notification or the box asking the gateway)."""
    r = c.post(f"/api/kiosk/sessions/{sid}/wallet-order", json={"rail": rail}, headers=k)
    if r.status_code != 201:
        return f"refused:{r.status_code}:{r.text[:120]}"
    key = r.json()["payment_id"]
    if kind != "success":
        httpx.post(f"{control}/_sim/script", json={"key": key, "outcome": kind}, timeout=10).raise_for_status()
    httpx.post(f"{control}/_sim/pay", json={"out_trade_no": key}, timeout=10).raise_for_status()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        st = c.get(f"/api/kiosk/sessions/{sid}/wallet-payment", headers=k).json()
        if st["status"] != "waiting":
            return "paid" if st["status"] == "paid" else f"{st['status']}:{st.get('error')}"
        time.sleep(0.2)  # a phone page polls a few times a second
    return "waiting"


def kiosk_group(jobs: list[tuple[Any, ...]], conn: Any) -> None:
    """Several kiosks' threads in one process; the payment plan comes from the parent (it scripts
    the simulators), the measurements go back to it."""
    out: dict[str, Any] = {"pay_ms": [], "wait_ms": [], "inapp_ms": [], "results": [], "errors": []}
    lock = threading.Lock()

    def run(base: str, token: str, plan: list[tuple[str, str, str]], controls: dict[str, str]) -> None:
        k = {"Authorization": f"Bearer {token}"}
        rng = random.Random(token)
        with httpx.Client(base_url=base, timeout=60) as c:
            for rail, code, kind in plan:
                try:
                    r = c.post("/api/kiosk/sessions", json={}, headers=k)
                    sid = r.json()["session_id"]
                    for gtin in rng.sample(CODES, rng.randint(2, 4)):
                        c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": gtin, "qty": 1}, headers=k)
                    t0 = time.perf_counter()
                    if not code:  # in-app
                        result = pay_in_app(c, k, sid, rail, kind, controls[rail])
                        with lock:
                            out["results"].append((rail, f"inapp:{kind}", 200 if result == "paid" else 402, result))
                            if result == "paid":
                                out["inapp_ms"].append((time.perf_counter() - t0) * 1000)
                        continue
                    r = pay_code(c, k, sid, code)
                    ms = (time.perf_counter() - t0) * 1000
                    body = r.json()
                    with lock:
                        out["results"].append((rail, kind, r.status_code, body.get("error", {}).get("code", "")))
                        if r.status_code == 200 and body.get("exit_pass"):
                            out["wait_ms" if kind == "wait" else "pay_ms"].append(ms)
                    if r.status_code == 402:  # declined: the shopper pays the same cart with a new code
                        r = pay_code(c, k, sid, wallet_code(rail, rng))
                        with lock:
                            out["results"].append((rail, "retry", r.status_code, ""))
                except Exception as exc:
                    with lock:
                        out["errors"].append(repr(exc)[:200])

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    conn.send("ready")
    conn.recv()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conn.send(out)


def gateway_only(gw: Any, data: Path, n: int = 40) -> list[float]:
    """The baseline: the same rails, called straight from here (no box, no HTTP, no database):
    what a payment costs at the gateway alone, so the box's own share can be read off."""
    checkout = CheckoutSettings(mode="production", qr_acquirer="rails", rails=RailSettings(**gw.settings))
    rails = build_rails(checkout, SecretStore(data), "bench")
    out = []
    for i in range(n):
        name = ("alipay", "wechatpay")[i % 2]
        t0 = time.perf_counter()
        rails[name].authorize(
            new_id(), order_ref="baseline", amount_minor=1000, currency="CNY", credential=wallet_code(name)
        )
        out.append((time.perf_counter() - t0) * 1000)
    return out


def face_phase(daemon: Any, config: dict[str, Any], gw: Any, tmp: Path, rounds: int) -> dict[str, list[Any]]:
    """Restart the daemon with the face models and two face cameras, then pay by face (facepay_rails.py)."""
    if not rounds or not facepay_rails.available():
        return {"pay_ms": [], "total_ms": [], "failed": []}
    daemon.stop()
    daemon.config = {**config, **facepay_rails.settings(tmp)}
    daemon.start()
    tokens = [daemon.cli("devices", "add", f"kiosk-face-{n}", "--role", "kiosk").stdout.strip() for n in range(2)]
    daemon.cli("users", "add", "bench-it", "--password-stdin", input="bench password 42\n")
    login = {"username": "bench-it", "password": "bench password 42"}
    token = httpx.post(f"{daemon.url}/api/auth/login", json=login, timeout=30).json()["token"]
    staff = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 120
    while httpx.get(f"{daemon.url}/readyz", timeout=10).json()["components"]["models"]["status"] != "ok":
        if time.monotonic() > deadline:
            raise SystemExit("the face models did not load: " + daemon.log_tail(20))
        time.sleep(0.5)
    codes = facepay_rails.enrol(daemon.url, staff, gw)
    return facepay_rails.run(daemon.url, tokens, codes, rounds, CODES)


def forge_notifications(gw: Any, base: str, most: int = 100) -> tuple[int, int]:
    """Notifications signed with a wrong key for real in-app orders (paid or not): (sent, refused)."""
    sent = refused = 0
    for rail in ("alipay", "wechatpay"):
        sim = gw.sim(rail)
        for t in [t for t in sim.trades() if t["kind"] == "order"][: most // 2]:
            status, _body = sim.forge_notification(t["out_trade_no"], f"{base}/api/payments/{rail}/notify")
            sent += 1
            refused += status == 400
    return sent, refused


def seed(data_dir: Path, kiosks: int) -> list[str]:
    settings = load_settings(None, overrides={"storage": {"data_dir": str(data_dir)}})
    db = prepare_storage(settings)
    assert not import_products(db, demo_rows("CNY")).refused
    access = AccessService(db, Signer("session", SecretStore(data_dir).keyring("session")))
    tokens = [access.add_device(f"kiosk-{n}", "kiosk") for n in range(kiosks)]
    db.dispose()
    return tokens


def box_payments(db: Path) -> dict[str, str | None]:
    """Every payment intent at the box: id -> its order id (None: no order)."""
    with sqlite3.connect(db) as conn:
        return {str(i): o for i, o in conn.execute("SELECT id, order_id FROM payment_intent")}


def taken(trade: dict[str, Any]) -> int:
    return int(trade["amount_minor"]) - int(trade.get("refunded_minor", 0)) if trade.get("state") == "paid" else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiosks", type=int, default=20)
    ap.add_argument("--payments", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=300, help="How long each simulated gateway call takes.")
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--face-payments", type=int, default=30, help="Face-pay checkouts after the main run (0: none).")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    quota = -(-args.payments // args.kiosks)
    with tempfile.TemporaryDirectory(prefix="bench-payments-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        tokens = seed(data, args.kiosks)
        rails = {"timeout_s": 1.5, "shopper_wait_s": 10.0, "poll_interval_s": 0.5}
        with gateways(data, latency_ms=args.latency_ms, **rails) as gw:
            plans: list[list[tuple[str, str, str]]] = []
            for _ in range(args.kiosks):
                plan = []
                for _ in range(quota):
                    rail = rng.choice(["alipay", "wechatpay"])
                    if rng.random() < INAPP_SHARE:
                        plan.append((rail, "", outcome(rng, INAPP_MIX)))
                        continue
                    kind = outcome(rng, MIX)
                    code = wallet_code(rail, rng)
                    seconds = {"wait": rng.uniform(0.5, 3.0), "timeout": 3.0}.get(kind, 0.0)
                    gw.sim(rail).script(code, Behaviour(kind, seconds))
                    plan.append((rail, code, kind))
                plans.append(plan)
            baseline = gateway_only(gw, data)
            port = free_port()
            settings = dict(gw.settings)
            for rail in ("alipay", "wechatpay"):
                settings[rail] = {**settings[rail], "notify_url": f"http://127.0.0.1:{port}/api/payments/{rail}/notify"}
            config = {
                "checkout": {"mode": "production", "qr_acquirer": "rails", "rails": settings},
                "mqtt": {"url": "mqtt://127.0.0.1:9"},
                "logging": {"level": "WARNING"},
            }
            daemon = DaemonProcess(data, config=config, port=port)
            daemon.start()
            merged: dict[str, Any] = {"pay_ms": [], "wait_ms": [], "inapp_ms": [], "results": [], "errors": []}
            try:
                controls = {"alipay": gw.alipay.base_url, "wechatpay": gw.wechat.base_url}
                jobs = [(daemon.url, token, plan, controls) for token, plan in zip(tokens, plans, strict=True)]
                parts, wall = run_groups(kiosk_group, jobs, args.processes)
                for part in parts:
                    for key in merged:
                        merged[key] += part[key]
                forged = forge_notifications(gw, daemon.url)
                face = face_phase(daemon, config, gw, Path(tmp), args.face_payments)
                # let the box settle: captures recorded, anything left open reversed by recovery
                # (a restart runs it at once, as a crash would)
                daemon.stop()
                daemon.start()
            finally:
                daemon.stop()
            problems = [ln for ln in daemon.log_tail(100000).splitlines() if '"ERROR"' in ln or "Traceback" in ln]
            intents = box_payments(data / "edge.db")
            trades = [t for t in gw.alipay.trades() + gw.wechat.trades() if t["attach"] != "baseline"]
            sim_stats = [gw.alipay.stats(), gw.wechat.stats()]
        per_cart: dict[str, int] = {}
        for t in trades:
            per_cart[t.get("attach", "")] = per_cart.get(t.get("attach", ""), 0) + (taken(t) > 0)
        orphans = sum(1 for t in trades if taken(t) > 0 and not intents.get(t["out_trade_no"]))
        paid_keys = {t["out_trade_no"] for t in trades if taken(t) > 0}
        orphans += sum(1 for key, order in intents.items() if order and key not in paid_keys)
        results = merged["results"]
        figures = {
            "kiosks": args.kiosks,
            "latency_ms": args.latency_ms,
            "payments": len(results),
            "succeeded": sum(1 for r in results if r[2] == 200),
            "declined": sum(1 for r in results if r[2] == 402),
            "other_refusals": sorted({f"{r[2]}:{r[3]}" for r in results if r[2] not in (200, 402)}),
            "by_rail": {rail: sum(1 for r in results if r[0] == rail) for rail in ("alipay", "wechatpay")},
            "double_charges": sum(1 for n in per_cart.values() if n > 1),
            "orphan_holds": orphans,
            "pay_calls_max": max((int(t.get("pay_calls", 0)) for t in trades), default=0),
            "pay_to_pass_p50_ms": pct(merged["pay_ms"], 0.5),
            "pay_to_pass_p95_ms": pct(merged["pay_ms"], 0.95),
            "baseline_gateway_only_p50_ms": pct(baseline, 0.5),
            "baseline_gateway_only_p95_ms": pct(baseline, 0.95),
            "waiting_pay_to_pass_p50_ms": pct(merged["wait_ms"], 0.5),
            "face_payments": len(face["pay_ms"]),
            "face_failed": len(face["failed"]),
            "face_pay_to_pass_p50_ms": pct(face["pay_ms"], 0.5),
            "face_pay_to_pass_p95_ms": pct(face["pay_ms"], 0.95),
            "face_verify_and_pay_p50_ms": pct(face["total_ms"], 0.5),
            "face_verify_and_pay_p95_ms": pct(face["total_ms"], 0.95),
            "inapp_pay_to_pass_p50_ms": pct(merged["inapp_ms"], 0.5),
            "inapp_pay_to_pass_p95_ms": pct(merged["inapp_ms"], 0.95),
            "forged_notifications": forged[0],
            "forged_notifications_refused": forged[1],
            "notifications_acknowledged": sum(gw_stats.get("notifications_acknowledged", 0) for gw_stats in sim_stats),
            "errors": len(merged["errors"]),
            "wall_s": round(wall, 1),
        }
    for key, value in figures.items():
        target = TARGETS.get(key)
        note = ""
        if target is not None:
            ok = value is not None and value <= target
            note = f"   target <= {target}  {'ok' if ok else 'MISSED'}"
        print(f"{key:>28}: {value}{note}")
    for err in merged["errors"][:10]:
        print("error:", err, file=sys.stderr)
    for line in problems[:10]:
        print("daemon:", line[:2000], file=sys.stderr)
    odd = sorted({f"{r[1]}->{r[2]}:{r[3]}" for r in results if r[2] != 200})
    print("not paid:", odd, file=sys.stderr)
    if face["failed"]:
        print("face not paid:", sorted(set(face["failed"]))[:10], file=sys.stderr)
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
