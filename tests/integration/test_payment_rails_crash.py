"""kill -9 of the real daemon at each step of a rail payment; after the restart every payment ends
paid with an order, or cancelled at the gateway with no order — read from the simulators' ledgers.

The steps: the pay request is on its way (the gateway has not seen it); the gateway took the
money but its answer is late; the box is asking the gateway while the shopper confirms in the
wallet; the gateway said paid and the box is writing the order (held up by a busy database).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.gateways import Behaviour
from edge.app import prepare_storage
from edge.checkout.catalog import import_products
from edge.config import load_settings
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from tests.support.rails import Gateways, gateways, money_taken, wallet_code
from tests.support.services import DaemonProcess
from tests.support.waits import wait_for

TEA = GROCERY[0][0]


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[dict[str, Any]]:
    data = tmp_path / "data"
    data.mkdir()
    settings = load_settings(None, overrides={"storage": {"data_dir": str(data)}})
    db = prepare_storage(settings)
    assert not import_products(db, demo_rows("CNY")).refused
    db.dispose()
    with gateways(data, timeout_s=20.0, shopper_wait_s=60.0, poll_interval_s=0.2) as gw:
        config = {
            "checkout": {"mode": "production", "qr_acquirer": "rails", "rails": gw.settings},
            "mqtt": {"url": "mqtt://127.0.0.1:9"},
        }
        d = DaemonProcess(data, config=config)
        d.start()
        try:
            token = d.cli("devices", "add", "kiosk-c", "--role", "kiosk").stdout.strip().split()[-1]
            yield {"d": d, "gw": gw, "kiosk": {"Authorization": f"Bearer {token}"}, "db": data / "edge.db"}
        finally:
            d.stop()


def cart(st: dict[str, Any]) -> str:
    base, k = st["d"].url, st["kiosk"]
    sid = str(httpx.post(f"{base}/api/kiosk/sessions", json={}, headers=k, timeout=10).json()["session_id"])
    r = httpx.post(f"{base}/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=k, timeout=10)
    assert r.status_code == 201, r.text
    return sid


def pay_in_background(st: dict[str, Any], sid: str, code: str) -> threading.Thread:
    def run() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the daemon is killed under it
            httpx.post(
                f"{st['d'].url}/api/kiosk/sessions/{sid}/checkout",
                json={"provider": "qr", "payment_code": code},
                headers=st["kiosk"],
                timeout=90,
            )

    t = threading.Thread(target=run)
    t.start()
    return t


def box(st: dict[str, Any], sid: str) -> tuple[list[str], int]:
    """(the intents' statuses, how many orders) for one cart, read from the box's database file."""
    with sqlite3.connect(st["db"]) as conn:
        statuses = [r[0] for r in conn.execute("SELECT status FROM payment_intent WHERE session_id=?", (sid,))]
        orders = conn.execute("SELECT count(*) FROM checkout_order WHERE session_id=?", (sid,)).fetchone()[0]
    return statuses, int(orders)


def crash_and_recover(
    st: dict[str, Any],
    rail: str,
    behaviour: Behaviour,
    at: Callable[[Gateways, str], Any],
    after_kill: Callable[[], None] = lambda: None,
) -> str:
    """Pay, kill -9 the daemon once `at(gw, sid)` holds, start it again (recovery runs at start)."""
    d: DaemonProcess = st["d"]
    sid = cart(st)
    code = wallet_code(rail)
    st["gw"].sim(rail).script(code, behaviour)
    t = pay_in_background(st, sid, code)
    try:
        wait_for(lambda: at(st["gw"], sid), 20, "the crash point", until=bool)
    finally:
        d.kill9()
        t.join()
        after_kill()
    d.start()
    return sid


def trades(gw: Gateways, sid: str) -> list[dict[str, Any]]:
    return [t for t in gw.alipay.trades() + gw.wechat.trades() if t["attach"] == sid]


def intent_ids(st: dict[str, Any], sid: str) -> list[str]:
    with sqlite3.connect(st["db"]) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM payment_intent WHERE session_id=?", (sid,))]


@pytest.mark.parametrize("rail", ["alipay", "wechatpay"])
def test_killed_while_the_pay_request_is_on_its_way_the_trade_number_is_closed(shop: dict[str, Any], rail: str) -> None:
    """The intent is written and the pay request is travelling; the box dies and the request is
    lost. Recovery finds nothing at the gateway and cancels the number, so it can never be paid."""
    sim = shop["gw"].sim(rail)
    sim.network.pause()
    sid = crash_and_recover(
        shop, rail, Behaviour(), lambda gw, s: sim.network.held() > 0, lambda: sim.network.resume(drop=True)
    )
    assert box(shop, sid) == (["failed"], 0)
    [key] = intent_ids(shop, sid)
    trade = sim.trade(key)
    assert trade is not None and (trade["state"], trade["pay_calls"], trade["paid"]) == ("closed", 0, False)


@pytest.mark.parametrize("rail", ["alipay", "wechatpay"])
def test_killed_while_the_gateway_holds_the_answer_the_money_goes_back(shop: dict[str, Any], rail: str) -> None:
    sid = crash_and_recover(
        shop, rail, Behaviour("timeout", 30.0), lambda gw, s: [t for t in trades(gw, s) if t["state"] == "paid"]
    )
    [trade] = trades(shop["gw"], sid)
    assert trade["state"] == "closed" and money_taken(trades(shop["gw"], sid), sid) == 0
    assert trade["pay_calls"] == 1, "recovery must cancel, never pay again"
    assert box(shop, sid) == (["reversed"], 0)


@pytest.mark.parametrize("rail", ["alipay", "wechatpay"])
def test_killed_while_the_shopper_confirms_in_the_wallet_the_trade_is_cancelled(
    shop: dict[str, Any], rail: str
) -> None:
    sid = crash_and_recover(
        shop, rail, Behaviour("wait_forever"), lambda gw, s: [t for t in trades(gw, s) if t["state"] == "waiting"]
    )
    [trade] = trades(shop["gw"], sid)
    assert (trade["state"], trade["pay_calls"]) == ("closed", 1)
    assert box(shop, sid) == (["reversed"], 0)


def test_killed_while_the_order_is_being_written_after_the_gateway_said_paid(shop: dict[str, Any]) -> None:
    """The database is held by another writer (the box waits for it) when the money has been taken."""
    lock = sqlite3.connect(shop["db"], timeout=10, isolation_level=None)
    gw: Gateways = shop["gw"]

    asked = {"count": -1, "since": 0.0}  # the gateway's query count, and since when it has not moved

    def paid_and_blocked(g: Gateways, sid: str) -> bool:
        """True once the trade is paid and the box has stopped asking about it: it heard "paid" and is
        now writing the order, held up by the lock taken while the shopper was confirming (it asks
        every 0.2 s while it waits, so five intervals without a question mean it is not waiting)."""
        states = {t["state"] for t in trades(g, sid)}
        if "waiting" in states and not lock.in_transaction:
            lock.execute("BEGIN IMMEDIATE")  # the intent row is written; hold the next write (the order)
        queries = g.alipay.stats().get("alipay.trade.query", 0)
        if queries != asked["count"]:
            asked["count"], asked["since"] = queries, time.monotonic()
        return lock.in_transaction and "paid" in states and time.monotonic() - asked["since"] >= 1.0

    def release() -> None:
        if lock.in_transaction:
            lock.execute("ROLLBACK")
        lock.close()

    sid = crash_and_recover(shop, "alipay", Behaviour("wait", 1.0), paid_and_blocked, release)
    [trade] = trades(gw, sid)
    assert (trade["state"], trade["pay_calls"]) == ("closed", 1)
    assert money_taken(trades(gw, sid), sid) == 0
    assert box(shop, sid) == (["reversed"], 0)
