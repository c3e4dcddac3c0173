"""A wallet (in-app) payment and the chain's coupons: the real daemon, the gateway simulators and
the reference cloud on PostgreSQL. The coupon is held at the cloud from the moment the wallet
order is placed (before the shopper can pay), redeemed when the sale is written, and freed
when the wallet order closes unpaid."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from cloud.harness import PostgresUnavailable, Receiver, temp_database
from edge.app import prepare_storage
from edge.checkout.catalog import import_products
from edge.config import load_settings
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from edge.platform.codes import Codes
from edge.platform.security import SecretStore
from tests.support.rails import gateways
from tests.support.services import DaemonProcess, free_port
from tests.support.waits import wait_for

TEA = GROCERY[0][0]
STORE, TOKEN = "wallet-store", "tok-wallet-store"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = Path(tmp_path_factory.mktemp("walletchain"))
    data = root / "data"
    data.mkdir()
    db = prepare_storage(load_settings(None, overrides={"storage": {"data_dir": str(data)}}))
    assert not import_products(db, demo_rows("CNY")).refused
    db.dispose()
    (data / "secrets").mkdir(mode=0o700, exist_ok=True)
    (data / "secrets" / "sync_token").write_text(TOKEN)
    (data / "secrets" / "sync_token").chmod(0o600)
    port = free_port()
    try:
        with temp_database() as dsn, gateways(data, inapp_wait_s=4.0, poll_interval_s=0.2) as gw:
            rx = Receiver(dsn, {STORE: TOKEN}, root / "receiver.log")
            rx.start()
            rails = dict(gw.settings)
            for rail in ("alipay", "wechatpay"):
                rails[rail] = {**rails[rail], "notify_url": f"http://127.0.0.1:{port}/api/payments/{rail}/notify"}
            config = {
                "store": {"id": STORE},
                "checkout": {"mode": "production", "qr_acquirer": "rails", "rails": rails, "audit_share": 0.0},
                "mqtt": {"url": "mqtt://127.0.0.1:9"},
                "sync": {"url": rx.url, "downsync_enabled": False, "idle_poll_s": 0.2},
            }
            d = DaemonProcess(data, config=config, port=port)
            d.start()
            try:
                token = d.cli("devices", "add", "kiosk-w", "--role", "kiosk").stdout.strip()
                yield {"d": d, "gw": gw, "k": {"Authorization": f"Bearer {token}"}, "dsn": dsn, "data": data}
            finally:
                d.stop()
                rx.stop()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))


def coupon(data: Path, serial: str) -> str:
    """A single-use coupon signed with the box's (the chain's) coupon key."""
    now = datetime.now(UTC)
    claims = {"c": f"cp-wallet-{serial}", "s": serial, "k": "percent", "v": 10, "min": 0, "lim": 0, "off": "store",
              "nbf": int((now - timedelta(minutes=5)).timestamp()), "exp": int((now + timedelta(days=1)).timestamp()),
              "n": "wallet test coupon"}  # fmt: skip
    return Codes(SecretStore(data)).coupon_code(claims)


def wallet_order(st: dict[str, Any], code: str) -> tuple[str, dict[str, Any]]:
    base, k = st["d"].url, st["k"]
    sid = str(httpx.post(f"{base}/api/kiosk/sessions", json={}, headers=k, timeout=10).json()["session_id"])
    assert httpx.post(f"{base}/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=k, timeout=10).is_success
    r = httpx.post(f"{base}/api/kiosk/sessions/{sid}/coupons", json={"code": code}, headers=k, timeout=10)
    assert r.status_code == 200, r.text
    r = httpx.post(f"{base}/api/kiosk/sessions/{sid}/wallet-order", json={"rail": "alipay"}, headers=k, timeout=30)
    assert r.status_code == 201, r.text
    return sid, dict(r.json())


def use_at_cloud(dsn: str, cid: str) -> tuple[str, str, str | None] | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT holder, status, order_id FROM coupon_use WHERE coupon_id = %s", (cid,)).fetchone()
    return (row[0], row[1], row[2]) if row else None


def test_the_coupon_is_held_from_the_wallet_order_and_redeemed_by_the_sale(shop: dict[str, Any]) -> None:
    sid, placed = wallet_order(shop, coupon(shop["data"], "paid"))
    holder = f"{STORE}/edge-1/{sid}"
    assert use_at_cloud(shop["dsn"], "cp-wallet-paid") == (holder, "reserved", None), "held before anyone can pay"
    delivery = shop["gw"].sim("alipay").shopper_pays(placed["payment_id"])
    assert delivery.done.wait(10) and delivery.acknowledged, delivery.answers
    r = httpx.get(f"{shop['d'].url}/api/kiosk/sessions/{sid}/wallet-payment", headers=shop["k"], timeout=10)
    order_id = r.json()["order"]["order_id"]
    wait_for(lambda: use_at_cloud(shop["dsn"], "cp-wallet-paid"), 20, "the sale to redeem the coupon at the cloud",
             until=lambda u: u == (holder, "committed", order_id))  # fmt: skip


def test_a_wallet_order_nobody_pays_frees_its_coupon(shop: dict[str, Any]) -> None:
    sid, _ = wallet_order(shop, coupon(shop["data"], "unpaid"))
    assert use_at_cloud(shop["dsn"], "cp-wallet-unpaid") is not None
    wait_for(lambda: use_at_cloud(shop["dsn"], "cp-wallet-unpaid"), 20,
             "the closed wallet order to free the coupon at the cloud", until=lambda u: u is None)  # fmt: skip
