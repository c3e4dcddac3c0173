"""Scan & Go on a shopper's phone in Chromium: a fake rear camera (a Y4M clip of product packs)
fills the basket through the box's decoders, a coupon applies, Alipay is paid in the wallet (the
gateway simulator plays the shopper), the exit pass opens the gate once; scans made offline are
sent once when the connection returns (one answer lost on the way); a forged entry code gets the
refusal page; hostile codes stay text; the page rides out a daemon restart and a lost cookie.

One daemon for the module (production checkout on the rails simulators); each test opens its own
phone (a fresh browser context: a new cookie, a new cart) in a Chromium launched with its clip.
"""

# ruff: noqa: F811 (the world's fixtures are imported and used as arguments)

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from edge.platform.timeutil import utcnow
from tests.e2e.a11y import assert_contrast, assert_touch_targets
from tests.e2e.conftest import shot
from tests.e2e.phone_world import (  # noqa: F401 (clips, phones, shop: pytest fixtures)
    CHOCOLATE,
    CRACKERS,
    GAP_CLIP_SHOWN_ALL_S,
    OFFLINE,
    TEA,
    WATER,
    Phones,
    Shop,
    camera_browser,
    clips,
    entry_code,
    line,
    pass_ids,
    phones,
    quantities,
    shop,
    staff,
    state,
)
from tests.support.screens import qr_texts


def test_scan_coupon_pay_in_the_wallet_and_leave_through_the_gate(
    phones: Phones, shop: Shop, clips: dict[str, Path], browser: Any
) -> None:
    with camera_browser(browser, clips["three"]) as cam:
        page, _console, _ = phones.open(cam, f"/go/{entry_code(shop)}")
        expect(page.locator("#store-name")).to_have_text("E2E Store")
        expect(page.get_by_text("Your basket is empty")).to_be_visible()
        assert_contrast(page, "phone basket (empty)")
        assert_touch_targets(page, "phone basket (empty)")

        # the rear camera: the clip shows tea, crackers and water; each lands once
        page.get_by_role("button", name="Scan items").click()
        expect(page.locator("#viewfinder video")).to_be_visible()
        lines = page.locator("#lines li.line")
        expect(lines).to_have_count(3, timeout=30_000)
        for item in (TEA, CRACKERS, WATER):
            expect(line(page, item).locator(".name")).to_have_text(item[1])
            expect(line(page, item).locator("output")).to_have_text("1")
        expect(page.locator("#total")).to_contain_text("43.30")  # 29.90 + 8.90 + 4.50
        expect(page.locator("#toast")).to_contain_text("Added: ")
        shot(page, "phone-scanning")
        page.get_by_role("button", name="Close the camera").click()
        expect(page.locator("#viewfinder")).to_be_hidden()
        assert page.evaluate("() => document.querySelector('#video').srcObject") is None  # tracks stopped
        assert quantities(state(page)["cart"]) == {TEA[0]: 1, CRACKERS[0]: 1, WATER[0]: 1}

        # store IT issued a coupon; the shopper types it: the saving shows
        with staff(shop) as c:
            valid_to = (utcnow() + timedelta(days=1)).replace(tzinfo=None).isoformat()
            issued = c.post("/api/checkout/coupons", json={"kind": "fixed", "value": 500, "name": "E2E five off",
                                                           "valid_to": valid_to})  # fmt: skip
        assert issued.status_code == 201, issued.text
        page.get_by_text("Member card or coupon").click()
        page.get_by_label("Coupon code").fill(issued.json()["codes"][0])
        page.get_by_role("button", name="Apply").click()
        expect(page.locator("#discounts")).to_contain_text("E2E five off: CN¥5.00 off −CN¥5.00")  # kiosk words
        expect(page.locator("#discount")).to_contain_text("5.00")
        expect(page.locator("#total")).to_contain_text("38.30")
        assert_contrast(page, "phone basket")
        assert_touch_targets(page, "phone basket")
        shot(page, "phone-basket")

        # pay in Alipay: the page shows the amount and the link into the wallet
        paid_cart = state(page)["cart"]["session_id"]
        with page.expect_response(lambda r: r.url.endswith("/pay") and r.request.method == "POST") as placed:
            page.get_by_role("button", name="Pay with Alipay").click()
        assert placed.value.status == 201, placed.value.text()
        wallet = placed.value.json()["wallet"]
        assert wallet["amount_minor"] == 3830
        expect(page.get_by_role("link", name="Open Alipay to confirm")).to_have_attribute("href", wallet["qr_code"])
        expect(page.locator("#paying-amount")).to_contain_text("38.30")
        shot(page, "phone-paying")

        # the shopper confirms in the wallet; the gateway tells the box; the page shows the pass
        delivery = shop.gw.alipay.shopper_pays(wallet["payment_id"])
        assert delivery.done.wait(15) and delivery.acknowledged, delivery.answers
        expect(page.get_by_text("Show this at the exit gate")).to_be_visible(timeout=15_000)
        expect(page.locator("#paid-total")).to_contain_text("38.30")
        page.wait_for_function("() => document.querySelector('#pass-img').naturalWidth > 0")
        assert_contrast(page, "phone exit pass")
        shot(page, "phone-pass")
        order = state(page)["last_order"]
        assert order is not None and order["total_minor"] == 3830
        # what the gate camera reads off the phone's screen is this order's pass, and it opens once
        # (the box signs the pass afresh for each request: same order and pass id, the same expiry)
        on_screen = qr_texts(page.locator("#pass-img").screenshot())
        assert [pass_ids(t) for t in on_screen] == [pass_ids(order["exit_pass"])], on_screen
        gate = {"Authorization": f"Bearer {shop.tokens['gate-1']}"}
        opened = httpx.post(f"{shop.url}/api/gate/verify", json={"text": on_screen[0]}, headers=gate, timeout=10)
        assert opened.status_code == 200 and opened.json()["open"] is True, opened.text
        assert opened.json()["order_id"] == order["order_id"]
        again = httpx.post(f"{shop.url}/api/gate/verify", json={"text": order["exit_pass"]}, headers=gate, timeout=10)
        assert again.status_code >= 400 or again.json()["open"] is False, again.text

        # the pass is used: a reload shows a new, empty basket and no pass
        page.reload()
        expect(page.get_by_text("Your basket is empty")).to_be_visible()
        expect(page.locator("#lines li")).to_have_count(0)
        expect(page.locator("#pass-img")).to_be_hidden()
        expect(page.get_by_role("button", name="Show my exit pass")).to_be_hidden()
        after = state(page)
        assert after["last_order"] is None and after["cart"]["lines"] == []
        assert after["cart"]["session_id"] != paid_cart


def test_scans_made_offline_are_sent_once_when_the_connection_returns(
    phones: Phones, shop: Shop, clips: dict[str, Path], browser: Any
) -> None:
    with camera_browser(browser, clips["gap"]) as cam:
        page, console, _ = phones.open(cam, f"/go/{entry_code(shop)}")
        console.allow(OFFLINE)
        page.get_by_role("button", name="Scan items").click()
        lines = page.locator("#lines li.line")
        expect(line(page, TEA).locator("output")).to_have_text("1", timeout=30_000)

        # the Wi-Fi drops while the camera shows crackers and water; a code is typed meanwhile
        page.context.set_offline(True)
        expect(page.locator("#conn")).to_contain_text("No connection")
        page.get_by_label("Barcode number").fill(CHOCOLATE[0])
        page.get_by_role("button", name="Add to basket").click()
        queue = page.locator("#queue")
        expect(queue).to_contain_text("scans waiting to send")
        page.wait_for_function(f"() => document.querySelector('#video').currentTime > {GAP_CLIP_SHOWN_ALL_S}",
                               timeout=30_000)  # fmt: skip
        waiting = int(re.search(r"\d+", queue.inner_text()).group())  # type: ignore[union-attr]
        assert waiting >= 10, queue.inner_text()  # ~2 frames a second for ~9 s, and the typed code
        expect(lines).to_have_count(1)  # nothing reached the box
        shot(page, "phone-offline-queue")

        # back online; the first frame reaches the box but its answer is lost on the way back:
        # the page sends it again with the same frame id, and the box counts it once
        lost: list[dict[str, Any]] = []

        def lose_first_answer(route: Any) -> None:
            if lost:
                route.continue_()
                return
            lost.append(route.fetch().json())
            route.abort("connectionreset")

        page.route("**/api/go/carts/*/frames", lose_first_answer)
        page.context.set_offline(False)
        expect(queue).to_be_hidden(timeout=40_000)
        expect(page.locator("#conn")).to_be_hidden()
        expect(lines).to_have_count(4, timeout=15_000)
        for item in (TEA, CRACKERS, WATER, CHOCOLATE):
            expect(line(page, item).locator("output")).to_have_text("1")
        page.get_by_role("button", name="Close the camera").click()
        page.unroute("**/api/go/carts/*/frames")
        assert len(lost) == 1 and "decode_ms" in lost[0], lost  # the box did answer that frame
        assert quantities(state(page)["cart"]) == {TEA[0]: 1, CRACKERS[0]: 1, WATER[0]: 1, CHOCOLATE[0]: 1}
        expect(page.locator("#total")).to_contain_text("59.20")  # 29.90 + 8.90 + 4.50 + 15.90
