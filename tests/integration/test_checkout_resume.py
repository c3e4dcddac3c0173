"""A kiosk page that loads after the camera already read items adopts that cart, and a wallet
code read by the kiosk camera pays without being typed."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from edge.app import Daemon
from edge.checkout.catalog import import_products
from edge.checkout.service import CheckoutServices
from edge.demo.gtins import GROCERY
from edge.platform.gs1 import facts
from edge.scanning.events import ScanEvent
from tests.support.inproc import device_headers

TEA, NAME, PRICE, _ = GROCERY[0]


def _scan(daemon: Daemon, text: str, gtin: str | None = None) -> None:
    ev = ScanEvent(
        camera_id="kiosk-1-cam", role="kiosk", target="kiosk-1", symbology="EAN-13", text=text,
        gs1=facts(gtin) if gtin else None,
    )  # fmt: skip
    daemon.ctx.bus.publish(ev)


def _wait_for(pred, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_page_resumes_the_cart_the_camera_started_and_pays_with_the_scanned_wallet_code(
    app_client: tuple[TestClient, Daemon],
) -> None:
    client, daemon = app_client
    import_products(daemon.ctx.store, [{"gtin": TEA, "name": NAME, "price_minor": PRICE}])
    kiosk = device_headers(daemon, "kiosk-1", "kiosk")

    _scan(daemon, TEA, "0" + TEA)  # the shopper puts tea under the camera before the page is up

    def camera_session() -> str | None:
        return daemon.ctx.own(CheckoutServices).sessions.current_for_kiosk("kiosk-1", create=False)

    _wait_for(lambda: camera_session() is not None)
    sid = camera_session()
    assert sid
    _wait_for(lambda: len(client.get(f"/api/kiosk/sessions/{sid}", headers=kiosk).json()["lines"]) == 1)

    resumed = client.post("/api/kiosk/sessions", json={"resume": True}, headers=kiosk)
    assert resumed.status_code == 201
    cart = resumed.json()
    assert cart["session_id"] == sid and [ln["gtin"] for ln in cart["lines"]] == ["0" + TEA]

    # The wallet app's 18-digit code shown to the kiosk camera is held on the box, then used once.
    _scan(daemon, "134567890123456789")
    time.sleep(0.5)
    paid = client.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "qr"}, headers=kiosk)
    assert paid.status_code == 200, paid.text
    assert paid.json()["order_id"]
    again = client.post("/api/kiosk/sessions", json={"resume": True}, headers=kiosk).json()
    assert again["session_id"] != sid and again["lines"] == []  # the paid cart is not resumed

    # Without resume the page starts over (an abandoned cart is cancelled).
    _scan(daemon, TEA, "0" + TEA)
    again_url = f"/api/kiosk/sessions/{again['session_id']}"
    _wait_for(lambda: len(client.get(again_url, headers=kiosk).json()["lines"]) == 1)
    fresh = client.post("/api/kiosk/sessions", json={}, headers=kiosk).json()
    assert fresh["session_id"] != again["session_id"] and fresh["lines"] == []
