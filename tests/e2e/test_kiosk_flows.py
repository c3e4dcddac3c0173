"""Kiosk in Chromium, the parts around the sale: scan confirmation, a weighed item, a member, a
coupon (and a refused one), the exit-pass countdown ticking, and the idle warning and reset,
driven by Playwright's clock; WCAG AA contrast and touch sizes on every kiosk screen."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from edge.demo.catalog import CRACKERS, LOOSE_APPLES, WATER
from edge.platform.gs1 import variable_measure_code as variable_code
from tests.e2e.a11y import assert_contrast, assert_touch_targets
from tests.e2e.conftest import Pages, Store, shot, staff_client


def _screen_checks(page: Any, where: str) -> None:
    """Every kiosk screen: text passes WCAG AA, every control is a comfortable touch target."""
    assert_contrast(page, f"kiosk {where}")
    assert_touch_targets(page, f"kiosk {where}")


def _seconds_left(text: str) -> int:
    m = re.search(r"(\d+):(\d\d)", text)
    assert m, text
    return int(m.group(1)) * 60 + int(m.group(2))


def test_kiosk_member_coupon_weighed_pass_countdown_and_idle(pages: Pages, store: Store) -> None:
    staff = staff_client(store)
    member = staff.post("/api/checkout/members", json={"phone": "13912345678", "name": "Wang Fang"})
    assert member.status_code == 201, member.text
    valid_to = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    issued = staff.post(
        "/api/checkout/coupons", json={"kind": "percent", "value": 10, "name": "Ten percent off", "valid_to": valid_to}
    )
    assert issued.status_code == 201, issued.text
    coupon = issued.json()["codes"][0]

    page, console = pages.open("")
    page.clock.install()  # the page's timers and Date, so waiting minutes takes no time
    page.goto("/kiosk")
    expect(page.get_by_label("Kiosk device token")).to_be_visible()
    _screen_checks(page, "token")
    page.get_by_label("Kiosk device token").fill(store.tokens["kiosk-1"])
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Scan your first item to start")).to_be_visible()
    _screen_checks(page, "attract")

    # the camera clip brings water and crackers; one more crackers typed: the line lights up
    # and a screen reader hears what was added
    lines = page.locator("#lines li.line")
    expect(lines).to_have_count(2, timeout=40_000)
    expect(page.locator("#alert")).to_contain_text("not a product barcode", timeout=20_000)  # the clip's QR
    page.get_by_placeholder("Type a barcode").fill(CRACKERS)
    page.get_by_role("button", name="Add", exact=True).click()
    crackers = page.locator(f"li.line[data-gtin$='{CRACKERS}']")
    expect(crackers).to_have_class(re.compile(r"\bflash\b"))
    expect(crackers.locator("output")).to_have_text("2")
    expect(page.locator("#announce")).to_have_text("Added: Rice crackers 180 g")
    page.clock.fast_forward(2000)
    expect(crackers).not_to_have_class(re.compile(r"\bflash\b"))  # the highlight is brief

    # a weighed item from the scale's label: 1.5 kg of apples at 12.80/kg
    page.get_by_placeholder("Type a barcode").fill(variable_code(LOOSE_APPLES, 1500))
    page.get_by_role("button", name="Add", exact=True).click()
    apples = page.locator("li.line", has_text="Loose apples")
    expect(apples.locator(".detail")).to_contain_text("weighed: 1.500 kg at CN¥12.80/kg")
    expect(apples.locator(".amount")).to_contain_text("19.20")
    page.get_by_label("Language").select_option("zh-CN")  # the label's facts follow the language
    expect(apples.locator(".detail")).to_contain_text("称重: 1.500 千克，每千克 ¥12.80")
    page.get_by_label("语言").select_option("en")

    # attach a member by phone number, apply a coupon; a refused coupon gets a sentence
    page.get_by_text("Member or coupon").click()
    page.get_by_label("Member phone number").fill("13912345678")
    page.get_by_role("button", name="Attach").click()
    expect(page.locator("#member")).to_have_text("Member: ••• 5678")  # a kiosk never shows who
    console.allow(r"status of 4\d\d")
    page.get_by_label("Coupon code (or scan it)").fill("RC1:not-a-real-coupon")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#alert")).to_have_text("This is not a valid coupon code.")
    page.get_by_label("Coupon code (or scan it)").fill(coupon)
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#coupons")).to_contain_text("Ten percent off")
    expect(page.locator("#discount")).to_contain_text("−")
    _screen_checks(page, "cart")
    shot(page, "kiosk-member-coupon-weighed")

    page.get_by_role("button", name="Pay by payment QR").click()
    expect(page.get_by_label("Payment code")).to_be_focused()
    _screen_checks(page, "payment QR")
    page.get_by_role("button", name="Back to my items").click()

    # pay; the pass counts down, second by second, from the exit-pass lifetime (15 min)
    page.get_by_role("button", name="Pay (sandbox)").click()
    expect(page.get_by_role("heading", name="Show this code at the exit gate")).to_be_visible()
    expect(page.locator("#receipt")).to_contain_text("Member: ••• 5678")
    countdown = page.locator("#pass-countdown")
    expect(countdown).to_contain_text("Valid for 14:")
    before = _seconds_left(countdown.inner_text())
    page.clock.fast_forward(30_000)
    after = _seconds_left(countdown.inner_text())
    assert 28 <= before - after <= 33, (before, after)
    _screen_checks(page, "paid")
    # the paid screen resets by itself after a minute; the order is already committed
    page.clock.fast_forward(35_000)
    expect(page.get_by_role("heading", name="Scan your first item to start")).to_be_visible()

    # the next shopper walks away from a cart: a warning with a countdown, "still here" keeps it
    page.get_by_role("button", name="Type a barcode instead").click()
    page.get_by_placeholder("Type a barcode").fill(WATER)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(lines).to_have_count(1)
    idle = page.get_by_role("alertdialog", name="Are you still there?")
    page.clock.fast_forward("09:31")  # session_idle_s 600: warned 30 s before the end
    expect(idle).to_be_visible()
    expect(idle).to_contain_text(re.compile(r"starts over in (20|19) seconds"))
    _screen_checks(page, "idle warning")
    shot(page, "kiosk-idle-warning")
    page.get_by_role("button", name="I'm still here").click()
    expect(idle).to_be_hidden()
    expect(lines).to_have_count(1)
    # nobody answers this time: the countdown ends and the kiosk starts over, cart emptied
    page.clock.fast_forward("09:31")
    expect(idle).to_be_visible()
    page.clock.fast_forward(21_000)
    expect(page.get_by_role("heading", name="Scan your first item to start")).to_be_visible()
    expect(idle).to_be_hidden()
    page.clock.set_system_time(datetime.now(UTC))  # back to the box's time for the new session
    page.get_by_role("button", name="Type a barcode instead").click()
    expect(lines).to_have_count(0)
