"""The real daemon: kill -9 in the middle of checkouts, concurrent double checkout, live SSE pushes."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.access.service import AccessService
from edge.app import prepare_storage
from edge.checkout.catalog import import_products
from edge.checkout.payments import SANDBOX_DB
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from edge.platform.security import SecretStore, Signer
from tests.support.inproc import settings_for
from tests.support.services import DaemonProcess
from tests.support.waits import wait_for

TEA, MILK, WATER = GROCERY[0][0], GROCERY[1][0], GROCERY[3][0]


@contextlib.contextmanager
def _shop(root: Path) -> Iterator[dict[str, Any]]:
    data = root / "data"
    d = DaemonProcess(data, env={"RETAIL_EDGE_MQTT__URL": "mqtt://127.0.0.1:9"})
    db = prepare_storage(settings_for(d.data_dir))  # seeded in-process before the daemon starts
    assert not import_products(db, demo_rows("CNY")).refused
    access = AccessService(db, Signer("session", SecretStore(d.data_dir).keyring("session")))
    kiosks = {f"kiosk-{n}": access.add_device(f"kiosk-{n}", "kiosk") for n in range(8)}
    db.dispose()
    d.start()
    try:
        yield {"d": d, "kiosks": kiosks}
    finally:
        d.stop()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One daemon shared by the tests that leave it running."""
    with _shop(Path(tmp_path_factory.mktemp("checkout-daemon"))) as s:
        yield s


@pytest.fixture
def own_shop(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A daemon of its own, for the test that kills it (a retry must not inherit a dead one)."""
    with _shop(tmp_path) as s:
        yield s


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cart(base: str, token: str, *codes: str) -> str:
    sid = httpx.post(f"{base}/api/kiosk/sessions", json={}, headers=h(token), timeout=10).json()["session_id"]
    for code in codes:
        r = httpx.post(f"{base}/api/kiosk/sessions/{sid}/items", json={"code": code}, headers=h(token), timeout=10)
        assert r.status_code == 201, r.text
    return str(sid)


def test_concurrent_double_checkout_makes_one_order_and_one_charge(shop: dict[str, Any]) -> None:
    d: DaemonProcess = shop["d"]
    tok = shop["kiosks"]["kiosk-0"]
    sid = cart(d.url, tok, TEA, WATER)

    def go(_: int) -> httpx.Response:
        return httpx.post(
            f"{d.url}/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=h(tok), timeout=20
        )

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(go, range(8)))
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert len({r.json()["order_id"] for r in results}) == 1
    assert sum(1 for r in results if not r.json()["replayed"]) == 1

    def charges() -> tuple[int, int]:
        with sqlite3.connect(d.data_dir / SANDBOX_DB) as conn:
            q = "SELECT count(*), sum(captures) FROM sandbox_charge WHERE order_ref=?"
            return tuple(conn.execute(q, (sid,)).fetchone())  # type: ignore[return-value]

    # the capture follows the answer in a worker thread: one charge, captured once
    wait_for(charges, 10, "the one charge to be captured", until=lambda row: row == (1, 1))


def test_cart_changes_are_pushed_to_the_kiosk_page(shop: dict[str, Any]) -> None:
    d: DaemonProcess = shop["d"]
    tok = shop["kiosks"]["kiosk-1"]
    sid = cart(d.url, tok)
    events: list[tuple[str, dict[str, Any]]] = []
    ready = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{d.url}/api/kiosk/sessions/{sid}/events", headers=h(tok), timeout=10) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            name = ""
            for line in r.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[6:])))
                    ready.set()
                    if len(events) >= 2:
                        return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert ready.wait(10)
    httpx.post(f"{d.url}/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=h(tok), timeout=10)
    t.join(10)
    names = [n for n, _ in events]
    assert names[0] == "cart" and events[0][1]["lines"] == []
    assert events[1][0] == "cart" and events[1][1]["lines"][0]["gtin"] == "0" + TEA


def test_kill_9_during_checkout_leaves_whole_orders_or_none_and_no_orphan_charge(own_shop: dict[str, Any]) -> None:
    d: DaemonProcess = own_shop["d"]
    tokens = list(own_shop["kiosks"].values())
    quick = [cart(d.url, tokens[i], TEA, MILK) for i in range(3)]
    slow = [cart(d.url, tokens[i], WATER) for i in range(3, 8)]
    for sid, tok in zip(quick, tokens[:3], strict=True):
        r = httpx.post(
            f"{d.url}/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=h(tok), timeout=10
        )
        assert r.status_code == 200, r.text

    # five shoppers whose payment network holds the money and then answers slowly: the box dies meanwhile
    def slow_pay(sid: str, tok: str) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the daemon is killed under it
            httpx.post(
                f"{d.url}/api/kiosk/sessions/{sid}/checkout",
                headers=h(tok),
                timeout=30,
                json={"provider": "sandbox", "simulate": {"outcome": "slow", "delay_ms": 20000}},
            )

    threads = [threading.Thread(target=slow_pay, args=(sid, tok)) for sid, tok in zip(slow, tokens[3:], strict=True)]
    for t in threads:
        t.start()
    db, acquirer = d.data_dir / "edge.db", d.data_dir / SANDBOX_DB
    # the slow carts' holds only: the quick orders' captures may still be queued (the capture
    # worker records them in batches), and recovery must then capture those after the crash
    marks = ",".join("?" * len(slow))
    slow_held = f"SELECT count(*) FROM sandbox_charge WHERE status='authorized' AND order_ref IN ({marks})"

    def holding() -> int:
        with sqlite3.connect(acquirer, timeout=1) as conn:
            return int(conn.execute(slow_held, slow).fetchone()[0])

    # until the network holds all five (each reply is 20 s late); killed either way, so the
    # shoppers' threads end
    try:
        wait_for(holding, 15, "the network to hold all five slow payments", until=lambda n: n == 5,
                 ignore=(sqlite3.OperationalError,))  # fmt: skip
    finally:
        d.kill9()
    for t in threads:
        t.join()
    with sqlite3.connect(acquirer) as conn:
        held = conn.execute(slow_held, slow).fetchone()[0]
    assert held == 5, "the crash must land while the money is held\n" + d.log_tail(30)
    d.start()  # recovery runs at start
    with sqlite3.connect(db) as conn:
        conn.execute("ATTACH DATABASE ? AS acq", (str(acquirer),))
        q = conn.execute
        orders = {r[0]: r[1] for r in q("SELECT session_id, id FROM checkout_order")}
        assert set(quick) <= set(orders) and not set(slow) & set(orders)
        orders = {sid: orders[sid] for sid in quick}
        for oid in orders.values():
            assert q("SELECT count(*) FROM checkout_order_line WHERE order_id=?", (oid,)).fetchone()[0] == 2
            assert q("SELECT count(*) FROM exit_pass WHERE order_id=?", (oid,)).fetchone()[0] == 1
            assert q("SELECT status FROM payment_intent WHERE order_id=?", (oid,)).fetchone()[0] == "captured"
            assert (
                q(
                    "SELECT count(*) FROM outbox_event WHERE kind='order.paid' AND payload LIKE ?", (f"%{oid}%",)
                ).fetchone()[0]
                == 1
            )
        # never charged without an order: every hold without an order was reversed
        orphans = q(
            "SELECT count(*) FROM acq.sandbox_charge WHERE status IN ('authorized','captured') "
            "AND order_ref NOT IN (SELECT session_id FROM checkout_order)"
        ).fetchone()[0]
        assert orphans == 0
        reversed_ = q(
            "SELECT count(*) FROM acq.sandbox_charge WHERE status='reversed' AND order_ref IN (?,?,?,?,?)", slow
        ).fetchone()[0]
        assert reversed_ == 5
        assert q("SELECT count(*) FROM payment_intent WHERE status IN ('authorizing','authorized')").fetchone()[0] == 0
    # the shopper can still pay after the restart, once
    sid, tok = slow[0], tokens[3]
    r = httpx.post(
        f"{d.url}/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=h(tok), timeout=10
    )
    assert r.status_code == 200, r.text
