"""Fitting room in Chromium: a shopper's phone page and a guide page in two browser contexts."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from edge.config import load_settings
from edge.demo.gtins import FASHION
from tests.e2e.conftest import Pages, Store, login_dashboard, shot

PHONE = {"width": 360, "height": 740}
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def room_token(store: Store, room_id: str) -> str:
    from tests.support.inproc import room_codes

    settings = load_settings(None, overrides=store.config)
    return room_codes(settings, Path(store.config["storage"]["data_dir"])).token(room_id)


def _rotate_codes(store: Store) -> None:
    from tests.support.inproc import room_codes

    settings = load_settings(None, overrides=store.config)
    room_codes(settings, Path(store.config["storage"]["data_dir"])).rotate()


def test_call_flow_between_phone_and_guide(pages: Pages, store: Store) -> None:
    phone, phone_console = pages.open(f"/fit/{room_token(store, 'room-1')}", viewport=PHONE)
    expect(phone.locator("#room-name")).to_have_text("Room 1")

    # the shopper adds the white S tee by its code and sees its sizes/colours with stock
    tee_s_white = FASHION[0][0]
    phone.get_by_placeholder("Barcode number").fill(tee_s_white)
    phone.get_by_role("button", name="Add", exact=True).click()
    item = phone.locator(f"li.item[data-gtin='0{tee_s_white}']").first
    expect(item).to_contain_text("Cotton crew tee")
    expect(item.locator(".variant")).to_have_count(4)
    expect(item.locator(".variant.out")).to_contain_text("M · white")  # stock 0
    # ask for M navy (in stock)
    item.get_by_label(re.compile("Size and colour for Cotton crew tee")).select_option("0" + FASHION[3][0])
    item.get_by_role("button", name="Another size or colour").click()
    call = phone.locator("li.call").first
    expect(call).to_have_attribute("data-state", "open")
    expect(call).to_contain_text("Waiting for a guide")
    # and a help call with a hostile note
    phone.get_by_label("Message for the guide (optional)").fill(HOSTILE)
    phone.get_by_role("button", name="Call a guide").click()
    expect(phone.locator("li.call")).to_have_count(2)
    shot(phone, "fitting-phone-waiting")

    guide, _ = pages.open("/guide")
    guide.get_by_label("Device token").fill(store.tokens["guide-1"])
    guide.get_by_role("button", name="Sign in").click()
    variant_call = guide.locator("li.call", has_text="Another size or colour")
    expect(variant_call).to_contain_text("Room 1")
    expect(variant_call).to_contain_text("M navy")
    help_call = guide.locator("li.call", has_text="Needs help")
    # the note is shown as the text the shopper typed, and nothing of it ran
    expect(help_call.locator(".note")).to_have_text(HOSTILE)
    assert guide.evaluate("() => window.__pwned") is None
    assert phone.evaluate("() => window.__pwned") is None
    shot(guide, "guide-open-calls")

    # the store-IT board lists both calls with running timers
    dash, _ = pages.open("/dashboard")
    login_dashboard(dash)
    dash.get_by_role("tab", name="Fitting room").click()
    board = dash.locator("#fitting-rows tr[data-call]")
    expect(board).to_have_count(2)
    expect(dash.locator("#fitting-rows")).to_contain_text("Room 1")

    # claim on the guide page: the phone and the board see it live over SSE
    variant_call.get_by_role("button", name="Claim").click()
    phone_call = phone.locator("li.call", has_text="Another size or colour")
    expect(phone_call).to_have_attribute("data-state", "claimed")
    expect(phone_call).to_contain_text("A guide is on the way")
    expect(phone_call).not_to_contain_text("guide-1")  # a staff device id is not the shopper's business
    shot(phone, "fitting-phone-claimed")
    expect(dash.locator("#fitting-rows tr[data-state=claimed]")).to_contain_text("guide-1")
    shot(dash, "dashboard-fitting")
    variant_call.get_by_role("button", name="Done").click()
    expect(phone_call).to_contain_text("Done")
    expect(guide.locator("li.call", has_text="Another size or colour")).to_have_count(0)

    # the shopper cancels the help call; the guide's list empties live
    phone.locator("li.call", has_text="Help").get_by_role("button", name="Cancel request").click()
    expect(guide.locator("li.call")).to_have_count(0)
    expect(guide.get_by_text("Nothing waiting")).to_be_visible()

    # room 2 escalates unclaimed calls after 3 s: the guide sees the escalation live
    phone2, phone2_console = pages.open(f"/fit/{room_token(store, 'room-2')}", viewport=PHONE)
    phone2.get_by_role("button", name="Call a guide").click()
    escalated = guide.locator("li.call[data-state=escalated]", has_text="Room 2")
    expect(escalated).to_contain_text("ESCALATED", timeout=20_000)
    expect(phone2.locator("li.call")).to_contain_text("more guides have been asked")
    shot(guide, "guide-escalated")

    # the store rotates the room codes (reprinted door QR): an open phone page turns friendly
    _rotate_codes(store)
    phone2_console.allow(r"status of 403")
    phone_console.allow(r"status of 403")  # room 1's page, still open, is refused the same way
    phone2.get_by_role("button", name="Call a guide").click()
    expect(phone2.get_by_role("heading", name="Please scan the code on the door")).to_be_visible()
    shot(phone2, "fitting-rotated-code")

    # a forged (or rotated-out) code gets the friendly page, not an error dump
    page, console = pages.open("", viewport=PHONE)
    console.allow(r"status of 40[03]")
    token = room_token(store, "room-2")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    page.goto(f"/fit/{forged}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("scan the code on the door")
    shot(page, "fitting-forged-code")
