"""Fitting-room phone page and guide page in Chromium: the language switch on both, the guide's
sound unlocked by a tap, the reconnect banner through a daemon crash with calls flowing again
afterwards, and WCAG AA contrast and touch sizes on both pages."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.a11y import assert_contrast, assert_touch_targets
from tests.e2e.conftest import Pages, Store, shot
from tests.e2e.test_fitting import PHONE, room_token

DOWN = r"ERR_CONNECTION_REFUSED|ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET|Failed to fetch"


def test_language_sound_and_reconnect_on_phone_and_guide_pages(pages: Pages, store: Store) -> None:
    phone, phone_console = pages.open(f"/fit/{room_token(store, 'room-1')}", viewport=PHONE)
    expect(phone.locator("#room-name")).to_have_text("Room 1")
    guide, guide_console = pages.open("/guide", viewport={"width": 768, "height": 1024})
    guide.get_by_label("Device token").fill(store.tokens["guide-1"])
    guide.get_by_role("button", name="Sign in").click()
    expect(guide.get_by_text("Nothing waiting")).to_be_visible()
    phone.get_by_role("button", name="Call a guide").click()
    expect(guide.locator("li.call", has_text="Needs help")).to_be_visible()
    for page, where in ((phone, "fitting phone page"), (guide, "guide page")):
        assert_contrast(page, where)
        assert_touch_targets(page, where)

    # the guide turns the sound on: the tap unlocks the page's audio, so new calls can ring
    guide.locator("#sound").check()
    guide.wait_for_function("async () => (await import('/ui/common/sound.js')).soundState() === 'running'")

    # each page switches language; every label follows and the choice survives a reload
    phone.get_by_label("Language").select_option("zh-CN")
    expect(phone.get_by_role("heading", name="需要帮忙吗？")).to_be_visible()
    expect(phone.get_by_role("button", name="呼叫导购")).to_be_visible()
    expect(phone.locator("html")).to_have_attribute("lang", "zh-CN")
    guide.get_by_label("Language").select_option("zh-CN")
    expect(guide.get_by_role("heading", level=1)).to_have_text("员工任务与呼叫")
    expect(guide.locator("li.call")).to_contain_text("需要帮助")
    guide.reload()
    expect(guide.get_by_role("heading", level=1)).to_have_text("员工任务与呼叫")
    expect(guide.locator("li.call")).to_contain_text("需要帮助")
    shot(phone, "fitting-phone-zh")
    shot(guide, "guide-zh")

    # the daemon crashes: both pages say so (in the page's language) and recover by themselves
    for console in (phone_console, guide_console):
        console.allow(DOWN)
    banners = (phone.locator("#conn"), guide.locator("#conn"))
    for banner in banners:
        expect(banner).to_be_hidden()
    store.daemon.kill9()
    for banner in banners:
        expect(banner).to_be_visible(timeout=10_000)
        expect(banner).to_contain_text("正在重新连接")
    shot(phone, "fitting-phone-reconnecting")
    shot(guide, "guide-reconnecting")
    store.daemon.start()
    for banner in banners:
        expect(banner).to_be_hidden(timeout=20_000)

    # and live updates flow again: the guide claims, the phone sees it without a reload
    guide.locator("li.call", has_text="需要帮助").get_by_role("button").first.click()
    expect(phone.locator("li.call")).to_have_attribute("data-state", "claimed")
    expect(phone.locator("li.call")).to_contain_text("导购正在赶来")
