"""Kiosk in Chromium: items arrive from a camera clip, sandbox checkout, pass QR decoded from the
screen and verified at the gate API; hostile scanned text stays inert on kiosk and dashboard."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import expect

from edge.demo.catalog import RICE_WINE
from edge.demo.gtins import GROCERY, ean13
from tests.e2e.conftest import HOSTILE_SCAN, Pages, Store, login_dashboard, shot
from tests.support.screens import qr_texts

WATER, CRACKERS = GROCERY[3], GROCERY[2]


def test_scan_to_exit_pass(pages: Pages, store: Store) -> None:
    page, console = pages.open("/kiosk")
    page.get_by_label("Kiosk device token").fill(store.tokens["kiosk-1"])
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Scan your first item to start")).to_be_visible()
    shot(page, "kiosk-attract")
    page.get_by_label("Language").select_option("zh-CN")
    expect(page.get_by_role("heading", name="扫描第一件商品开始结账")).to_be_visible()
    shot(page, "kiosk-attract-zh")
    page.get_by_label("语言").select_option("en")

    # the camera clip shows water, then crackers: the cart fills by itself
    lines = page.locator("#lines li.line")
    expect(lines).to_have_count(2, timeout=40_000)
    expect(page.locator("#lines")).to_contain_text(WATER[1])
    expect(page.locator("#lines")).to_contain_text(CRACKERS[1])
    # then the QR with a <script> payload: refused with a sentence, nothing runs
    expect(page.locator("#alert")).to_contain_text("not a product barcode", timeout=20_000)
    assert page.evaluate("() => window.__pwned") is None
    shot(page, "kiosk-cart")

    # change a quantity; the total follows (water 4.50 x 2 + crackers 8.90)
    page.get_by_role("button", name=f"One more {WATER[1]}").click()
    expect(page.locator(f"li.line[data-gtin$='{WATER[0]}'] output")).to_have_text("2")
    expect(page.locator("#total")).to_contain_text("17.90")

    # an unknown item and an age-restricted one get clear messages (the 404 is expected)
    console.allow(r"status of 404")
    page.get_by_placeholder("Type a barcode").fill(ean13("690123409999"))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#alert")).to_contain_text("not in our catalog")
    page.get_by_placeholder("Type a barcode").fill(RICE_WINE)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#age-banner")).to_be_visible()
    expect(page.get_by_role("button", name="Pay (sandbox)")).to_be_disabled()
    # remove it again: paying is possible without staff
    page.get_by_role("button", name="Remove Rice wine 500 ml").click()
    expect(page.locator("#age-banner")).to_be_hidden()

    page.get_by_role("button", name="Pay (sandbox)").click()
    expect(page.get_by_role("heading", name="Show this code at the exit gate")).to_be_visible()
    expect(page.locator("#pass-countdown")).to_contain_text("Valid for 1")  # 15 min TTL: 14:5x
    expect(page.locator("#receipt")).to_contain_text("17.90")
    expect(page.locator("#receipt")).to_contain_text(WATER[1])
    # the receipt shows the store's wall clock (Asia/Shanghai), not the browser's or UTC
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    stamps = {(now + timedelta(minutes=d)).strftime("%H:%M") for d in (-1, 0, 1)}
    receipt_text = page.locator("#receipt").inner_text()
    assert any(s in receipt_text for s in stamps), receipt_text
    qr = page.locator("#pass-qr")
    page.wait_for_function("() => document.querySelector('#pass-qr').naturalWidth > 0")
    shot(page, "kiosk-paid")

    # the gate reads the code off the screen and opens once
    texts = qr_texts(qr.screenshot())
    assert len(texts) == 1, texts
    gate = {"Authorization": f"Bearer {store.tokens['gate-1']}"}
    first = httpx.post(f"{store.url}/api/gate/verify", json={"text": texts[0]}, headers=gate, timeout=10)
    assert first.status_code == 200 and first.json()["open"] is True, first.text
    again = httpx.post(f"{store.url}/api/gate/verify", json={"text": texts[0]}, headers=gate, timeout=10)
    assert again.status_code >= 400 or again.json()["open"] is False, again.text

    # "Done" starts a fresh session for the next shopper, who types a code and pays by wallet QR
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_role("heading", name="Scan your first item to start")).to_be_visible()
    page.get_by_role("button", name="Type a barcode instead").click()
    page.get_by_placeholder("Type a barcode").fill(CRACKERS[0])
    page.get_by_role("button", name="Add", exact=True).click()
    expect(lines).to_have_count(1)
    # kiosk touch targets are large
    small = page.evaluate(
        "() => [...document.querySelectorAll('[data-screen=cart] button')]"
        ".filter(b => b.offsetParent && b.getBoundingClientRect().height < 64).map(b => b.textContent)"
    )
    assert small == [], small
    # the first checkout answer is lost on the way back (the box charged, the kiosk never heard):
    # the page repeats the same request with the same key and shows the same order, once
    lost: list[str] = []

    def lose_first_answer(route: Any) -> None:
        if lost:
            route.continue_()
            return
        lost.append(route.fetch().text())
        route.abort("connectionreset")

    page.route("**/checkout", lose_first_answer)
    console.allow(r"ERR_CONNECTION_RESET")
    page.get_by_role("button", name="Pay by payment QR").click()
    page.get_by_label("Payment code").fill("134567890123456789")  # what a hand scanner types
    page.get_by_role("button", name="Pay", exact=True).click()
    expect(page.locator("#receipt")).to_contain_text("Paid with: payment QR")
    expect(page.locator("#receipt")).to_contain_text("8.90")
    assert len(lost) == 1 and '"order_id"' in lost[0]
    assert json.loads(lost[0])["order_id"] == page.locator("#pass-qr").get_attribute("data-order")
    page.unroute("**/checkout")
    page.get_by_role("button", name="Done").click()

    # store IT sees the hostile code the kiosk camera read, as text
    dash, _ = pages.open("/dashboard")
    login_dashboard(dash)
    dash.get_by_role("tab", name="Cameras").click()
    card = dash.locator("figure[data-camera='kiosk-1-cam']")
    expect(card.locator(".last-scan")).to_have_text(HOSTILE_SCAN)
    expect(card).to_have_attribute("data-snapshot", "loaded", timeout=15_000)
    # the decode rate comes from two refreshes of the camera's cumulative decode count
    rate = card.locator("dd.decode-rate")
    expect(rate).to_have_attribute("data-rate", re.compile(r"^\d+\.\d\d$"), timeout=15_000)
    expect(card.locator("dt", has_text="Decodes per second")).to_be_visible()
    expect(card.locator("dt", has_text="Frames decoded")).to_be_visible()  # labels from the catalog
    assert dash.evaluate("() => window.__pwned") is None
    expect(dash.locator("figure[data-camera='room-1-cam']")).to_be_visible()
    shot(dash, "dashboard-cameras")

    # and finds the sale in the transactions, with its receipt
    dash.get_by_role("tab", name="Transactions").click()
    expect(dash.locator("#tx-rows tr[data-kind=order]")).to_have_count(2)  # the camera sale and the QR sale
    order_row = dash.locator("#tx-rows tr[data-kind=order]", has_text="17.90")
    order_row.get_by_role("button", name="Receipt").click()
    expect(dash.locator("#receipt")).to_contain_text(CRACKERS[1])
    dash.get_by_placeholder("Order, member or kiosk").fill("no-such-order")
    dash.get_by_role("button", name="Search").click()
    expect(dash.locator("#tx-rows")).to_contain_text("No transactions match")
    shot(dash, "dashboard-transactions")
