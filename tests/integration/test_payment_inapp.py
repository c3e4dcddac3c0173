"""In-app pay on the real daemon: the shopper pays inside the wallet, the gateway simulator posts
its signed notification to the box (or loses it, or sends it twice, or someone forges one), and
the box ends every payment with one order or none — checked against the simulators' ledgers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alipay import AliPay

from cloud.gateways import Behaviour
from edge.app import prepare_storage
from edge.checkout.catalog import import_products
from edge.config import load_settings
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from tests.support.rails import ALIPAY_APP_ID, Gateways, gateways, money_taken
from tests.support.services import DaemonProcess, free_port
from tests.support.waits import wait_for

TEA = GROCERY[0][0]  # 29.90
RAILS = ["alipay", "wechatpay"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = Path(tmp_path_factory.mktemp("inapp")) / "data"
    data.mkdir()
    db = prepare_storage(load_settings(None, overrides={"storage": {"data_dir": str(data)}}))
    assert not import_products(db, demo_rows("CNY")).refused
    db.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with gateways(data, inapp_wait_s=4.0, poll_interval_s=0.2) as gw:
        rails = dict(gw.settings)
        for rail in RAILS:
            rails[rail] = {**rails[rail], "notify_url": f"{base}/api/payments/{rail}/notify"}
        config = {
            "checkout": {"mode": "production", "qr_acquirer": "rails", "rails": rails},
            "mqtt": {"url": "mqtt://127.0.0.1:9"},
        }
        d = DaemonProcess(data, config=config, port=port)
        d.start()
        try:
            token = d.cli("devices", "add", "kiosk-w", "--role", "kiosk").stdout.strip()
            yield {"d": d, "gw": gw, "k": {"Authorization": f"Bearer {token}"}, "data": data}
        finally:
            d.stop()


def cart(st: dict[str, Any], qty: int = 1) -> str:
    base, k = st["d"].url, st["k"]
    sid = str(httpx.post(f"{base}/api/kiosk/sessions", json={}, headers=k, timeout=10).json()["session_id"])
    r = httpx.post(f"{base}/api/kiosk/sessions/{sid}/items", json={"code": TEA, "qty": qty}, headers=k, timeout=10)
    assert r.status_code == 201, r.text
    return sid


def place(st: dict[str, Any], sid: str, rail: str) -> dict[str, Any]:
    r = httpx.post(
        f"{st['d'].url}/api/kiosk/sessions/{sid}/wallet-order", json={"rail": rail}, headers=st["k"], timeout=30
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def shopper_pays(st: dict[str, Any], rail: str, outcome: str) -> tuple[str, dict[str, Any], Any]:
    """A cart placed as a wallet order, its notification scripted, then paid by the shopper at the gateway."""
    sid = cart(st)
    placed = place(st, sid, rail)
    sim = st["gw"].sim(rail)
    sim.script(placed["payment_id"], Behaviour(outcome))
    return sid, placed, sim.shopper_pays(placed["payment_id"])


def status(st: dict[str, Any], sid: str) -> dict[str, Any]:
    r = httpx.get(f"{st['d'].url}/api/kiosk/sessions/{sid}/wallet-payment", headers=st["k"], timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def orders(st: dict[str, Any], sid: str) -> int:
    with sqlite3.connect(st["data"] / "edge.db") as conn:
        return int(conn.execute("SELECT count(*) FROM checkout_order WHERE session_id=?", (sid,)).fetchone()[0])


def audits(st: dict[str, Any], reason: str) -> int:
    with sqlite3.connect(st["data"] / "edge.db") as conn:
        q = "SELECT count(*) FROM audit_event WHERE action='payment.notification_refused' AND detail LIKE ?"
        return int(conn.execute(q, (f"%{reason}%",)).fetchone()[0])


@pytest.mark.parametrize("rail", RAILS)
def test_the_notification_completes_the_sale_once_and_the_cart_is_frozen_meanwhile(
    shop: dict[str, Any], rail: str
) -> None:
    gw: Gateways = shop["gw"]
    sid = cart(shop, 2)
    placed = place(shop, sid, rail)
    assert placed["amount_minor"] == 5980 and placed["qr_code"]
    base, k = shop["d"].url, shop["k"]
    r = httpx.post(f"{base}/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=k, timeout=10)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "cart_paying")  # a late scan is not added
    assert status(shop, sid)["status"] == "waiting"
    delivery = gw.sim(rail).shopper_pays(placed["payment_id"])
    assert delivery.done.wait(10) and delivery.acknowledged, delivery.answers
    out = status(shop, sid)
    assert out["status"] == "paid" and out["order"]["exit_pass"] and out["order"]["total_minor"] == 5980
    assert orders(shop, sid) == 1 and money_taken(gw.sim(rail).trades(), sid) == 5980


@pytest.mark.parametrize("rail", RAILS)
def test_a_duplicated_notification_is_acknowledged_and_makes_no_second_order(shop: dict[str, Any], rail: str) -> None:
    gw: Gateways = shop["gw"]
    sid, placed, delivery = shopper_pays(shop, rail, "duplicate_notification")
    assert delivery.done.wait(10) and delivery.acknowledged
    assert len(delivery.answers) == 2, delivery.answers
    assert gw.sim(rail).replay_last_notification()[0] == 200  # a third, replayed later: acknowledged, no effect
    assert orders(shop, sid) == 1 and money_taken(gw.sim(rail).trades(), sid) == 2990
    with sqlite3.connect(shop["data"] / "edge.db") as conn:
        q = "SELECT count(*) FROM audit_event WHERE action='payment.notification_repeated' AND subject=?"
        assert conn.execute(q, (placed["payment_id"],)).fetchone()[0] == 2  # the duplicate and the replay


@pytest.mark.parametrize("rail", RAILS)
def test_a_lost_notification_is_found_by_asking_the_gateway(shop: dict[str, Any], rail: str) -> None:
    sid, _placed, _delivery = shopper_pays(shop, rail, "lose_notification")
    wait_for(lambda: status(shop, sid)["status"], 10, "the query fallback to find the payment",
             until=lambda s: s == "paid")  # fmt: skip
    assert orders(shop, sid) == 1


@pytest.mark.parametrize("rail", RAILS)
def test_a_forged_notification_is_refused_audited_and_moves_nothing(shop: dict[str, Any], rail: str) -> None:
    gw: Gateways = shop["gw"]
    sid = cart(shop)
    placed = place(shop, sid, rail)
    before = audits(shop, "notification_forged")
    url = f"{shop['d'].url}/api/payments/{rail}/notify"
    code, body = gw.sim(rail).forge_notification(placed["payment_id"], url)
    assert code == 400 and "notification_forged" in body
    assert audits(shop, "notification_forged") == before + 1
    assert status(shop, sid)["status"] == "waiting" and orders(shop, sid) == 0
    garbage = httpx.post(url, content=b"<xml><a>&lt;", headers={"Content-Type": "text/xml"}, timeout=10)
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "notification_refused"


def test_a_signed_notification_for_a_payment_the_box_never_placed_is_refused(shop: dict[str, Any]) -> None:
    """An order placed at the gateway by someone holding the merchant key, not by this box."""
    gw: Gateways = shop["gw"]
    key = (shop["data"] / "secrets" / "alipay_app_private_key").read_text()
    public = (shop["data"] / "secrets" / "alipay_public_key").read_text()
    client = AliPay(appid=ALIPAY_APP_ID, app_private_key_string=key, alipay_public_key_string=public)
    client._gateway = gw.alipay.url
    notify = f"{shop['d'].url}/api/payments/alipay/notify"
    client.api_alipay_trade_precreate(subject="x", out_trade_no="not-the-box-1", total_amount="1.00", notify_url=notify)
    before = audits(shop, "unknown_payment")
    delivery = gw.alipay.shopper_pays("not-the-box-1")
    assert delivery.done.wait(10) and not delivery.acknowledged
    assert audits(shop, "unknown_payment") > before


@pytest.mark.parametrize("rail", RAILS)
def test_an_order_nobody_pays_is_closed_at_the_gateway_and_the_cart_opens_again(
    shop: dict[str, Any], rail: str
) -> None:
    gw: Gateways = shop["gw"]
    sid = cart(shop)
    placed = place(shop, sid, rail)
    out = wait_for(lambda: status(shop, sid), 15, "the unpaid wallet order to be closed",
                   until=lambda o: o["status"] != "waiting")  # fmt: skip
    assert (out["status"], out["error"]) == ("failed", "payment_not_confirmed")
    trade = gw.sim(rail).trade(placed["payment_id"])
    assert trade is not None and trade["state"] == "closed"
    with pytest.raises(ValueError):  # too late to pay it now
        gw.sim(rail).shopper_pays(placed["payment_id"])
    r = httpx.post(f"{shop['d'].url}/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=shop["k"], timeout=10)
    assert r.status_code == 201, r.text  # the cart is open again


def test_paid_while_the_box_was_down_the_sale_is_found_at_start(shop: dict[str, Any]) -> None:
    gw: Gateways = shop["gw"]
    d: DaemonProcess = shop["d"]
    sid = cart(shop)
    placed = place(shop, sid, "wechatpay")
    d.kill9()
    delivery = gw.wechat.shopper_pays(placed["payment_id"])  # the notification finds nobody
    assert delivery.done.wait(10) and not delivery.acknowledged
    d.start()  # start-up asks the gateway about wallet orders still open
    assert orders(shop, sid) == 1
    assert status(shop, sid)["status"] == "paid"
