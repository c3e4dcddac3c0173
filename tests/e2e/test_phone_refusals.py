"""Scan & Go on a phone in Chromium, what goes wrong: a forged entry code gets the refusal page,
hostile codes stay text, the page rides out a daemon restart, and a lost cookie says what to do."""

# ruff: noqa: F811 (the world's fixtures are imported and used as arguments)

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from edge.demo.catalog import RICE_WINE
from tests.e2e.a11y import assert_contrast
from tests.e2e.conftest import shot
from tests.e2e.phone_world import (  # noqa: F401 (clips, phones, shop: pytest fixtures)
    HOSTILE_QR,
    HOSTILE_TYPED,
    OFFLINE,
    TEA,
    WATER,
    Phones,
    Shop,
    camera_browser,
    clips,
    entry_code,
    line,
    phones,
    quantities,
    shop,
    state,
)


def test_forged_entry_code_hostile_codes_restart_and_lost_session(
    phones: Phones, shop: Shop, clips: dict[str, Path], browser: Any
) -> None:
    code = entry_code(shop)
    # a forged entry code: a page the shopper can act on (403), no cookie, nothing of the request echoed
    page, console, _ = phones.open(browser, "")
    console.allow(r"status of 403")
    forged = code[:-4] + ("AAAA" if not code.endswith("AAAA") else "BBBB")
    refused = page.goto(f"/go/{forged}")
    assert refused is not None and refused.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("E2E Store")
    expect(page.locator(".problem")).to_contain_text("scan the QR code at the store entrance")
    card = "() => getComputedStyle(document.querySelector('body.refusal main')).borderTopStyle"
    assert page.evaluate(card) == "solid"  # the refusal is styled by the phone page's own sheet
    assert not [c for c in page.context.cookies() if c["name"] == "re_go"]
    assert_contrast(page, "entry refusal", min_checked=2)
    shot(page, "phone-refused")

    with camera_browser(browser, clips["hostile"]) as cam:
        page, console, dialogs = phones.open(cam, f"/go/{code}")
        console.allow(r"status of 400")  # the typed hostile code is refused
        # a QR code carrying HTML, shown to the camera: refused, shown as the text it is
        page.get_by_role("button", name="Scan items").click()
        toast = page.locator("#toast")
        expect(toast).to_contain_text(HOSTILE_QR, timeout=30_000)
        expect(toast).to_contain_text("not a product barcode")
        page.get_by_role("button", name="Close the camera").click()
        # and typed
        page.get_by_label("Barcode number").fill(HOSTILE_TYPED)
        page.get_by_role("button", name="Add to basket").click()
        expect(toast).to_contain_text(HOSTILE_TYPED)
        assert page.locator("img[src='x'], img[src='y']").count() == 0
        assert page.evaluate("() => window.__pwned") is None and dialogs == []
        expect(page.locator("#lines li")).to_have_count(0)

        # the language switch: every label follows, and the choice is kept over a reload
        page.get_by_label("Language").select_option("zh-CN")
        expect(page.get_by_role("heading", name="您的购物篮")).to_be_visible()
        expect(page.get_by_role("button", name="扫描商品")).to_be_visible()
        page.reload()
        expect(page.get_by_role("button", name="扫描商品")).to_be_visible()
        shot(page, "phone-zh")
        page.get_by_label("语言").select_option("en")

        # an age-restricted item: the banner says staff check the ID; paying waits for that check
        console.allow(r"status of 409")
        page.get_by_label("Barcode number").fill(RICE_WINE)
        page.get_by_role("button", name="Add to basket").click()
        expect(page.locator("#age-banner")).to_be_visible()
        expect(page.locator("#age-banner")).to_contain_text("will check your ID before you pay")
        page.get_by_role("button", name="Pay with WeChat Pay").click()
        expect(page.locator("#pay-error")).to_contain_text("needs an ID check")
        page.get_by_role("button", name="Remove Rice wine 500 ml").click()
        expect(page.locator("#age-banner")).to_be_hidden()
        expect(page.locator("#lines li")).to_have_count(0)

        # help: one request for this cart, on the staff handhelds
        page.get_by_role("button", name="Call staff").click()
        expect(page.locator("#toast")).to_have_text("A member of staff is on the way.")

        # the daemon restarts while a code is typed: the scan waits, then lands once
        console.allow(OFFLINE)
        shop.daemon.kill9()
        page.get_by_label("Barcode number").fill(WATER[0])
        page.get_by_role("button", name="Add to basket").click()
        expect(page.locator("#queue")).to_have_text("1 scan waiting to send")
        expect(page.locator("#conn")).to_be_visible()
        shop.daemon.start()
        expect(page.locator("#queue")).to_be_hidden(timeout=45_000)  # start-up, then the next try (<= 10 s)
        expect(page.locator("#conn")).to_be_hidden()
        expect(line(page, WATER).locator("output")).to_have_text("1")
        assert quantities(state(page)["cart"]) == {WATER[0]: 1}

        # the cookie is gone (cleared, or expired): the page says to scan the entrance code again
        console.allow(r"status of 401")
        page.context.clear_cookies()
        page.get_by_label("Barcode number").fill(TEA[0])
        page.get_by_role("button", name="Add to basket").click()
        expect(page.get_by_role("heading", name="Scan the QR code at the entrance")).to_be_visible()
        expect(page.locator("[data-screen=shop]")).to_be_hidden()
        shot(page, "phone-session-gone")
