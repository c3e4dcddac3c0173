"""A kiosk page that loads after the camera already read items adopts that cart, and a wallet
code read by the kiosk camera pays without being typed."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from edge.app import Daemon
from edge.checkout.catalog import import_products
from edge.checkout.events import CartChanged
from edge.checkout.service import CheckoutServices
from edge.demo.gtins import GROCERY
from edge.platform.gs1facts import facts
from edge.scanning.events import ScanEvent
from tests.support.inproc import device_headers
from tests.support.waits import wait_for

TEA, NAME, PRICE, _ = GROCERY[0]


def _scan(daemon: Daemon, text: str, gtin: str | None = None) -> None:
    ev = ScanEvent(
        camera_id="kiosk-1-cam", role="kiosk", target="kiosk-1", symbology="EAN-13", text=text,
        gs1=facts(gtin) if gtin else None,
    )  # fmt: skip
    daemon.ctx.bus.publish(ev)


def test_page_resumes_the_cart_the_camera_started_and_pays_with_the_scanned_wallet_code(
    app_client: tuple[TestClient, Daemon],
) -> None:
    client, daemon = app_client
    import_products(daemon.ctx.store, [{"gtin": TEA, "name": NAME, "price_minor": PRICE}])
    kiosk = device_headers(daemon, "kiosk-1", "kiosk")

    _scan(daemon, TEA, "0" + TEA)  # the shopper puts tea under the camera before the page is up

    def camera_session() -> str | None:
        return daemon.ctx.own(CheckoutServices).sessions.current_for_kiosk("kiosk-1", create=False)

    sid = wait_for(camera_session, 10, "the camera's scan to open a kiosk session")
    wait_for(lambda: client.get(f"/api/kiosk/sessions/{sid}", headers=kiosk).json()["lines"], 10,
             "the scanned tea in the cart", until=lambda lines: len(lines) == 1)  # fmt: skip

    resumed = client.post("/api/kiosk/sessions", json={"resume": True}, headers=kiosk)
    assert resumed.status_code == 201
    cart = resumed.json()
    assert cart["session_id"] == sid and [ln["gtin"] for ln in cart["lines"]] == ["0" + TEA]

    # The wallet app's 18-digit code shown to the kiosk camera is held on the box, then used once.
    # Checkout tells the kiosk page it read one (a CartChanged alert) right after holding it.
    held = threading.Event()

    def on_cart(ev: CartChanged) -> None:
        if ev.session_id == sid and ev.alert and ev.alert.get("code") == "payment_code_scanned":
            held.set()

    daemon.ctx.bus.subscribe(CartChanged, on_cart)
    _scan(daemon, "134567890123456789")
    assert held.wait(10), "checkout did not take the scanned wallet code"
    daemon.ctx.bus.unsubscribe(CartChanged, on_cart)
    paid = client.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "qr"}, headers=kiosk)
    assert paid.status_code == 200, paid.text
    assert paid.json()["order_id"]
    again = client.post("/api/kiosk/sessions", json={"resume": True}, headers=kiosk).json()
    assert again["session_id"] != sid and again["lines"] == []  # the paid cart is not resumed

    # Without resume the page starts over (an abandoned cart is cancelled).
    _scan(daemon, TEA, "0" + TEA)
    again_url = f"/api/kiosk/sessions/{again['session_id']}"
    wait_for(lambda: client.get(again_url, headers=kiosk).json()["lines"], 10, "the scanned tea in the new cart",
             until=lambda lines: len(lines) == 1)  # fmt: skip
    fresh = client.post("/api/kiosk/sessions", json={}, headers=kiosk).json()
    assert fresh["session_id"] != again["session_id"] and fresh["lines"] == []
