"""Paying in the wallet from a phone, through the real rails' code against the gateway simulators:
a reload mid-payment keeps the cart being paid (and what the wallet opens), a resent pay request
places nothing twice, and an order nobody pays reopens the basket, not an empty cart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.checkout.catalog import import_products
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from tests.support.inproc import running_app
from tests.support.phone import go_headers
from tests.support.rails import gateways
from tests.support.waits import wait_for


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[dict[str, Any]]:
    data = tmp_path / "data"
    data.mkdir()
    with gateways(data, inapp_wait_s=3.0) as gw:
        cfg = {"checkout": {"qr_acquirer": "rails", "rails": gw.settings}}
        with running_app(data, cfg) as (client, daemon):
            assert not import_products(daemon.ctx.store, demo_rows("CNY")).refused
            yield {"c": client, "d": daemon, "gw": gw}


def test_a_reload_mid_payment_keeps_the_cart_and_a_resend_places_nothing_twice(shop: dict[str, Any]) -> None:
    c = shop["c"]
    h = go_headers(c, shop["d"])
    state = c.get("/api/go/state", headers=h).json()
    assert state["pay_options"] == ["alipay", "wechatpay"] and state["payment"] is None
    sid = state["cart"]["session_id"]
    c.post(f"/api/go/carts/{sid}/items", json={"code": GROCERY[0][0], "scan_id": "wallet-0001"}, headers=h)
    body = {"method": "alipay", "idempotency_key": "page-key-1"}
    first = c.post(f"/api/go/carts/{sid}/pay", json=body, headers=h)
    assert first.status_code == 201, first.text
    wallet = first.json()["wallet"]
    again = c.post(f"/api/go/carts/{sid}/pay", json=body, headers=h)  # the first answer was lost
    assert again.status_code == 201 and again.json()["wallet"]["payment_id"] == wallet["payment_id"]
    assert len(shop["gw"].alipay.trades()) == 1, "one wallet order at the gateway"
    other = c.post(f"/api/go/carts/{sid}/pay", json={**body, "idempotency_key": "page-key-2"}, headers=h)
    assert other.status_code == 409 and other.json()["error"]["code"] == "cart_paying"
    reloaded = c.get("/api/go/state", headers=h).json()
    assert reloaded["cart"]["session_id"] == sid and reloaded["cart"]["status"] == "paying"
    assert reloaded["payment"]["status"] == "waiting" and reloaded["payment"]["qr_code"] == wallet["qr_code"]
    shop["gw"].alipay.shopper_pays(wallet["payment_id"]).done.wait(10)
    paid = wait_for(lambda: c.get("/api/go/state", headers=h).json(), 10, "the sale after the notification",
                    until=lambda st: st["last_order"] is not None)  # fmt: skip
    assert paid["cart"]["session_id"] != sid and paid["cart"]["lines"] == []


def test_an_unpaid_wallet_order_reopens_the_basket_not_an_empty_cart(shop: dict[str, Any]) -> None:
    c = shop["c"]
    h = go_headers(c, shop["d"])
    sid = c.get("/api/go/state", headers=h).json()["cart"]["session_id"]
    c.post(f"/api/go/carts/{sid}/items", json={"code": GROCERY[1][0], "scan_id": "wallet-0002"}, headers=h)
    assert c.post(f"/api/go/carts/{sid}/pay", json={"method": "wechatpay"}, headers=h).status_code == 201
    closed = wait_for(lambda: c.get(f"/api/go/carts/{sid}/payment", headers=h).json(), 20,
                      "the unpaid wallet order to be closed", until=lambda p: p["status"] == "failed")  # fmt: skip
    assert closed["status"] == "failed"
    state = c.get("/api/go/state", headers=h).json()
    assert state["cart"]["session_id"] == sid and state["cart"]["status"] == "open"
    assert [line["qty"] for line in state["cart"]["lines"]] == [1], "the basket is back, ready to pay again"
