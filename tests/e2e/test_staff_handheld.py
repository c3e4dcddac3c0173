"""The staff handheld in Chromium: an ID check from a kiosk reaches it live, is claimed and
approved (the kiosk pays) or refused with a reason (the item leaves the cart); a flagged exit
pass becomes a rescan with its items; "call staff" from a kiosk shows up, and a supervisor closes it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from edge.demo.catalog import RICE_WINE
from edge.demo.gtins import GROCERY
from tests.e2e.conftest import Pages, Store, open_pages, shot, start_store, store_config
from tests.support.services import DaemonProcess, Mosquitto

HANDHELD = {"width": 390, "height": 844}
TEA = GROCERY[0][0]


@pytest.fixture
def shop(tmp_path: Path, mosquitto: Mosquitto, daemon_factory: type[DaemonProcess]) -> Store:
    data_dir = tmp_path / "data"
    config = store_config(data_dir, mosquitto, None)
    config["checkout"] = {"audit_share": 1.0}  # every pass is rescanned: the exit task is certain
    return start_store(data_dir, config, mosquitto, daemon_factory)


@pytest.fixture
def handheld_pages(browser: Any, shop: Store) -> Iterator[Pages]:
    with open_pages(browser, shop.url) as p:
        yield p


def kiosk(shop: Store) -> httpx.Client:
    return httpx.Client(base_url=shop.url, timeout=10, headers={"Authorization": f"Bearer {shop.tokens['kiosk-1']}"})


def cart(k: httpx.Client, *codes: str) -> str:
    sid = str(k.post("/api/kiosk/sessions", json={}).json()["session_id"])
    for code in codes:
        assert k.post(f"/api/kiosk/sessions/{sid}/items", json={"code": code}).status_code == 201
    return sid


def test_id_checks_rescans_and_help_on_the_handheld(handheld_pages: Pages, shop: Store) -> None:
    guide, _ = handheld_pages.open("/guide", viewport=HANDHELD)
    guide.get_by_label("Device token").fill(shop.tokens["guide-1"])
    guide.get_by_role("button", name="Sign in").click()
    expect(guide.get_by_text("Nothing waiting")).to_be_visible()
    k = kiosk(shop)

    # the guide's personal code, for a shopper to scan: a sale with it gives guide-1 credit
    guide.get_by_role("button", name="My code").click()
    expect(guide.locator("#mycode-qr")).to_be_visible()
    expect(guide.locator("#mycode-qr")).to_have_attribute("data-code", re.compile(r"^RG1:"))
    expect(guide.locator("#mycode")).to_contain_text("Valid until")
    sid = cart(k)
    code = str(guide.locator("#mycode-qr").get_attribute("data-code"))
    attached = k.post(f"/api/kiosk/sessions/{sid}/guide", json={"code": code})
    assert attached.status_code == 200 and attached.json()["guide"] == {"guide_id": "guide-1"}, attached.text
    guide.get_by_role("button", name="Close").click()
    expect(guide.locator("#mycode")).to_be_hidden()

    # an age-restricted scan at the kiosk reaches the handheld live, within a second
    sid = cart(k, TEA, RICE_WINE)
    raised = time.monotonic()
    check = guide.locator("li.task[data-kind=id_check]")
    guide.wait_for_function(  # polled every 50 ms: expect() re-checks only every 500 ms after a while
        "() => [...document.querySelectorAll('li.task[data-kind=id_check]')]"
        ".some(e => e.textContent.includes('ID check: Rice wine 500 ml'))",
        polling=50,
        timeout=3_000,
    )
    assert time.monotonic() - raised < 1.5, "the ID check took too long to reach the handheld"
    expect(check).to_contain_text("kiosk-1")
    check.get_by_role("button", name="Claim").click()
    expect(check).to_contain_text("Claimed by guide-1")
    shot(guide, "handheld-id-check")
    check.get_by_role("button", name="ID OK").click()
    expect(guide.locator("li.task")).to_have_count(0)
    paid = k.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"})
    assert paid.status_code == 200, paid.text

    # the flagged pass of that order becomes a rescan with its items
    gate = httpx.post(f"{shop.url}/api/gate/verify", json={"text": paid.json()["exit_pass"]},
                      headers={"Authorization": f"Bearer {shop.tokens['gate-1']}"}, timeout=10)  # fmt: skip
    assert gate.json()["audit"] is True
    rescan = guide.locator("li.task[data-kind=exit_audit]")
    expect(rescan).to_contain_text("Rescan the basket at the exit")
    expect(rescan.locator(".rescan li")).to_have_count(2)
    expect(rescan).to_contain_text("Random check")
    rescan.get_by_role("button", name="Claim").click()
    shot(guide, "handheld-rescan")
    rescan.get_by_role("button", name="Basket matches").click()
    expect(guide.locator("li.task")).to_have_count(0)

    # refused: a reason is asked for, the item leaves the cart
    sid = cart(k, TEA, RICE_WINE)
    check = guide.locator("li.task[data-kind=id_check]")
    check.get_by_role("button", name="Claim").click()
    check.get_by_role("button", name="Refuse").click()
    expect(guide.locator("#guide-error")).to_contain_text("Give a reason")
    check.get_by_label("Reason").fill("no ID shown")
    check.get_by_role("button", name="Refuse").click()
    expect(guide.locator("li.task")).to_have_count(0)
    lines = k.get(f"/api/kiosk/sessions/{sid}").json()["lines"]
    assert [line["gtin"] for line in lines] == ["0" + TEA]

    # a rescan finds an unpaid item: it goes into a corrective sale at a staffed till
    paid = k.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"})
    httpx.post(f"{shop.url}/api/gate/verify", json={"text": paid.json()["exit_pass"]},
               headers={"Authorization": f"Bearer {shop.tokens['gate-1']}"}, timeout=10)  # fmt: skip
    rescan = guide.locator("li.task[data-kind=exit_audit]")
    rescan.get_by_role("button", name="Claim").click()
    rescan.get_by_role("button", name="Items missing").click()
    expect(guide.locator("#guide-error")).to_contain_text("List the items that were not paid for")
    rescan.get_by_label("Barcodes of unpaid items").fill(GROCERY[1][0])
    rescan.get_by_role("button", name="Items missing").click()
    expect(guide.locator("#guide-info")).to_contain_text("Corrective sale opened: 1 item(s)")
    expect(guide.locator("li.task")).to_have_count(0)

    # "call staff" on the kiosk's screen
    kiosk_page, _ = handheld_pages.open("/kiosk")
    kiosk_page.get_by_label("Kiosk device token").fill(shop.tokens["kiosk-1"])
    kiosk_page.get_by_role("button", name="Save").click()
    kiosk_page.get_by_role("button", name="Call staff").click()
    expect(kiosk_page.locator("#alert")).to_contain_text("A member of staff is on the way")
    help_task = guide.locator("li.task[data-kind=kiosk_help]")
    expect(help_task).to_contain_text("A shopper asks for help")
    help_task.get_by_role("button", name="Claim").click()
    expect(help_task).to_contain_text("Claimed by guide-1")

    # guide-1 walked away: a supervisor's handheld may answer what a colleague claimed
    lead, _ = handheld_pages.open("/guide", viewport=HANDHELD)
    lead.get_by_label("Device token").fill(shop.tokens["supervisor-1"])
    lead.get_by_role("button", name="Sign in").click()
    taken = lead.locator("li.task[data-kind=kiosk_help]")
    expect(taken).to_contain_text("Claimed by guide-1")
    taken.get_by_role("button", name="Done").click()
    expect(guide.locator("li.task")).to_have_count(0)
    expect(lead.locator("li.task")).to_have_count(0)
