"""Dashboard in Chromium: login, health overview, cameras grid, charts with data, config, keyboard."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import STAFF_USER, Pages, Store, assert_secrets_masked, login_dashboard, shot


def test_login_overview_charts_config(pages: Pages, store: Store) -> None:
    page, console = pages.open("/dashboard")
    # a wrong password is refused with a sentence, not a crash (the 401 is expected in the console)
    console.allow(r"status of 401")
    page.get_by_label("User name").fill(STAFF_USER)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")

    login_dashboard(page)
    expect(page.locator("#who")).to_contain_text(STAFF_USER)
    expect(page.locator("tr[data-component=db]")).to_contain_text("OK")
    expect(page.locator("#overall")).not_to_be_empty()
    shot(page, "dashboard-overview")

    page.get_by_role("tab", name="Charts").click()
    http_chart = page.locator("[data-chart=http]")
    expect(http_chart).to_be_visible()
    # the ring samples every 2 s; the page gets history then live samples over SSE
    for chart in ("cpu", "decode_rate", "decode_latency", "camera_fps"):
        page.wait_for_function(
            f"() => Number(document.querySelector('[data-chart={chart}]').dataset.points) >= 2", timeout=20_000
        )
    expect(page.locator("[data-chart=mqtt] .legend")).to_contain_text("Broker connected (1 = yes): 1")
    expect(page.locator("[data-chart=decode_rate] canvas")).to_have_attribute(
        "aria-label", re.compile(r"Frames decoded /s \d")
    )
    expect(page.locator(".chart .legend", has_text="edge_")).to_have_count(0)  # words, not metric names
    shot(page, "dashboard-charts")

    # keyboard: arrows move between tabs, and the selected panel follows
    page.get_by_role("tab", name="Charts").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Fitting room")).to_be_focused()
    expect(page.get_by_role("tab", name="Fitting room")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name="Configuration")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#config-tree")).to_contain_text("Asia/Shanghai")
    assert_secrets_masked(page, store)  # the session key ring is listed, its keys shown as ***
    shot(page, "dashboard-config")

    page.get_by_role("tab", name="Devices, users, models").click()
    expect(page.locator("#device-rows")).to_contain_text("kiosk-1")
    expect(page.locator("#user-rows")).to_contain_text(STAFF_USER)
    # no weights in this store's model dir: each model says so, with its manifest version
    expect(page.locator("#model-rows tr", has_text="yunet_dynamic")).to_contain_text("is not in")
    shot(page, "dashboard-devices")

    # the language switch: every label follows, and the choice is remembered
    page.get_by_label("Language").select_option("zh-CN")
    expect(page.get_by_role("tab", name="概览")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    shot(page, "dashboard-zh")
    page.reload()
    expect(page.get_by_role("tab", name="摄像头")).to_be_visible()
    page.get_by_label("语言").select_option("en")
    expect(page.get_by_role("tab", name="Cameras")).to_be_visible()


def test_reconnect_indicator_when_daemon_restarts(pages: Pages, store: Store) -> None:
    page, console = pages.open("/dashboard")
    login_dashboard(page)
    page.get_by_role("tab", name="Charts").click()
    kiosk, kiosk_console = pages.open("/kiosk")
    kiosk.get_by_label("Kiosk device token").fill(store.tokens["kiosk-1"])
    kiosk.get_by_role("button", name="Save").click()
    kiosk.get_by_role("heading", name="Scan your first item to start").wait_for()
    banner, kiosk_banner = page.locator("#conn"), kiosk.locator("#conn")
    expect(banner).to_be_hidden()
    expect(kiosk_banner).to_be_hidden()
    # while the daemon is down Chromium logs the refused connections: those are the point here
    for c in (console, kiosk_console):
        c.allow(r"ERR_CONNECTION_REFUSED|ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_EMPTY_RESPONSE")
        c.allow(r"ERR_CONNECTION_RESET|Failed to fetch")
    store.daemon.kill9()  # a crash; systemd would restart it
    expect(banner).to_be_visible(timeout=10_000)
    expect(banner).to_contain_text("reconnecting")
    expect(kiosk_banner).to_contain_text("reconnecting")
    shot(page, "dashboard-reconnecting")
    shot(kiosk, "kiosk-reconnecting")
    store.daemon.start()
    expect(banner).to_be_hidden(timeout=20_000)
    expect(kiosk_banner).to_be_hidden(timeout=20_000)
    # live samples flow again after the restart
    before: Any = page.locator("[data-chart=cpu]").get_attribute("data-points")
    page.wait_for_function(
        f"() => Number(document.querySelector('[data-chart=cpu]').dataset.points) > {int(before or 0)}",
        timeout=15_000,
    )
