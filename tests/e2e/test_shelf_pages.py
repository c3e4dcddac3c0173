"""Fresh food at the till, in Chromium: GS1 labels with a use-by date (AI 17) and a lot (AI 10),
and a recall list that comes down from the reference receiver on PostgreSQL. On the shopper's
phone (its rear camera a Y4M clip of DataBar Expanded Stacked labels) and on the kiosk (the
label's element string typed, as staff key a label the camera cannot read), the page refuses the
expired pack and the recalled lot with a sentence while the floor manager's handheld hears of
both over MQTT, and the last-day pack lands with its markdown worded in the shopper's language.
In the fitting room a recalled garment is refused on the shopper's page, in their language, and
one guide call goes out to take it back however many phones bring it in.
"""

# ruff: noqa: F811 (the world's fixtures are imported and used as arguments)

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import zxingcpp
from playwright.sync_api import expect

from cloud.harness import PostgresUnavailable, Receiver, temp_database
from edge.config import load_settings
from edge.demo.gtins import FASHION, GROCERY
from tests.e2e.conftest import open_pages, shot
from tests.e2e.phone_world import (  # noqa: F401 (phones: a pytest fixture)
    Phones,
    Shop,
    camera_browser,
    entry_code,
    line,
    open_shop,
    phones,
    quantities,
    render_clip,
    state,
)
from tests.integration.test_mqtt_relay import Guide
from tests.support.inproc import room_codes
from tests.support.waits import wait_for

STORE_ID, TOKEN = "e2e-store", "e2e-phone-shelf-token"  # store_config's store id; a test-only token
TEA, MILK, CRACKERS = GROCERY[0], GROCERY[1], GROCERY[2]
ALERTS = f"retail/{STORE_ID}/checkout/+/alert"
TEE = FASHION[1]  # a garment of the fitting-room catalog
RECALL = {"recall_id": "R-E2E-7", "gtin": "0" + CRACKERS[0], "lot": "LOT9", "reason": "undeclared sesame"}
TEE_RECALL = {"recall_id": "R-E2E-8", "gtin": "0" + TEE[0], "reason": "loose buttons (choking hazard)"}  # every lot
# every toast the page shows, in order (a toast is replaced by the next one within seconds)
TOAST_LOG = """() => {
  window.__toasts = [];
  const el = document.querySelector("#toast");
  new MutationObserver(() => {
    const text = el.textContent;
    if (text && window.__toasts[window.__toasts.length - 1] !== text) window.__toasts.push(text);
  }).observe(el, { childList: true, characterData: true, subtree: true });
}"""
SAID = """([expired, recalled]) =>
  window.__toasts.some((t) => t.includes(expired)) && window.__toasts.some((t) => t.includes(recalled))"""
EXPIRED_EN = "This pack is past its use-by date."
RECALLED_EN = "This item has been recalled and cannot be sold."
RECALLED_FIT = {  # what the fitting room's page says, by the phone's language
    "en-US": "This item has been recalled, so please don't wear it. "
    "Leave it in the room: a guide is on the way to take it back.",
    "zh-CN": "该商品已被召回，请不要试穿。请把它留在试衣间，导购正在赶来取回。",
}


def noon_zone() -> tuple[str, date]:
    """A fixed-offset zone where it is about noon now, and its date: the store's midnight, when
    "use by today" on a label would turn into "expired", is hours away whenever the suite runs."""
    now = datetime.now(UTC)
    offset = 12 - now.hour  # -11 to +12 hours: every such Etc zone exists
    name = "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # POSIX signs
    return name, (now + timedelta(hours=offset)).date()


@pytest.fixture(scope="module")
def zone() -> tuple[str, date]:
    return noon_zone()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, zone: tuple[str, date]) -> Iterator[Shop]:
    """The phone world's store, in a noon zone, syncing with the reference receiver that holds a
    recall list (published before the daemon starts: its first down-sync poll applies it).
    Overrides phone_world's `shop` for this module, so `phones` opens pages on this store."""
    root = tmp_path_factory.mktemp("phone-shelf")
    try:
        with temp_database() as dsn:
            rx = Receiver(dsn, {STORE_ID: TOKEN}, root / "receiver.log")
            rx.start()
            try:
                rx.publish("recalls", [RECALL, TEE_RECALL])
                extra = {
                    "store": {"id": STORE_ID, "name": "E2E Store", "timezone": zone[0], "currency": "CNY"},
                    "sync": {"url": rx.url, "downsync_enabled": True, "downsync_interval_s": 3600, "idle_poll_s": 0.2},
                }
                with open_shop(root, extra, env={"RETAIL_EDGE_SECRET_SYNC_TOKEN": TOKEN}) as s:
                    yield s
            finally:
                rx.stop()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))


def element_string(item: tuple[str, str, int, str], use_by: date, lot: str) -> str:
    return f"(01)0{item[0]}(17){use_by:%y%m%d}(10){lot}"


def databar(item: tuple[str, str, int, str], use_by: date, lot: str) -> np.ndarray:
    """A fresh-food label: DataBar Expanded Stacked with GTIN, use-by date and lot, 2 px a module."""
    text = element_string(item, use_by, lot)
    symbol = np.array(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.DataBarExpStk).to_image(scale=2))
    framed = cv2.copyMakeBorder(symbol, 16, 16, 16, 16, cv2.BORDER_CONSTANT, value=255)
    return cv2.cvtColor(framed, cv2.COLOR_GRAY2BGR)


def recalls(shop: Shop) -> dict[str, Any]:
    ready = httpx.get(f"{shop.url}/readyz", timeout=10).json()
    return dict(ready["components"]["checkout"]["details"]["recalls"])


def applied_recalls(shop: Shop) -> dict[str, Any]:
    """The recall list on /readyz once the daemon's first down-sync poll has applied it."""
    return wait_for(lambda: recalls(shop), 30, "the cloud's recall list", until=lambda r: r["version"] is not None)


def test_expired_and_recalled_packs_are_refused_and_the_last_day_is_marked_down(
    phones: Phones, shop: Shop, browser: Any, zone: tuple[str, date], tmp_path: Path
) -> None:
    applied = applied_recalls(shop)
    assert applied["entries"] == 2
    today = zone[1]
    clip = render_clip(
        tmp_path / "shelf.y4m",
        [
            (None, 1),
            (databar(TEA, today - timedelta(days=2), "A1"), 1.5),  # two days past its date
            (None, 1),
            (databar(CRACKERS, today + timedelta(days=300), "LOT9"), 1.5),  # the recalled lot
            (None, 1),
            (databar(MILK, today, "B2"), 1.5),  # its last day: 30% off (the default rule)
            (None, 20),
        ],
        seed=21,
    )
    manager = Guide(shop.broker.port, "manager-phone-shelf", [ALERTS])
    try:
        with camera_browser(browser, clip) as cam:
            page, _console, _ = phones.open(cam, f"/go/{entry_code(shop)}")
            expect(page.get_by_text("Your basket is empty")).to_be_visible()
            page.evaluate(TOAST_LOG)
            page.get_by_role("button", name="Scan items").click()

            # the shopper is told why each refused pack is not in the basket
            page.wait_for_function(SAID, arg=[EXPIRED_EN, RECALLED_EN], timeout=30_000)
            milk = line(page, MILK)
            expect(milk.locator(".detail")).to_contain_text("30% off: use by today −CN¥4.05", timeout=30_000)
            expect(milk.locator(".amount")).to_have_text("CN¥9.45")
            expect(page.locator("#total")).to_contain_text("9.45")
            shot(page, "phone-shelf")
            sid = state(page)["cart"]["session_id"]
            assert quantities(state(page)["cart"]) == {MILK[0]: 1}, "the refused packs stay out of the basket"
            toasts: list[str] = page.evaluate("window.__toasts")
            assert any(t.startswith(f"“{TEA[1]}”: {EXPIRED_EN}") for t in toasts), toasts  # the pack, in words
            first = [next(i for i, t in enumerate(toasts) if s in t) for s in (EXPIRED_EN, RECALLED_EN, "Added: ")]
            assert first == sorted(first) and toasts[first[2]] == f"Added: {MILK[1]}", toasts  # as the packs came

            # staff hear of both packs, to take them from the shopper and the shelf
            expired = manager.wait_for(
                lambda m: (m.get("session_id"), m.get("type")) == (sid, "checkout.item_expired")
            )[0]
            recalled = manager.wait_for(
                lambda m: (m.get("session_id"), m.get("type")) == (sid, "checkout.item_recalled")
            )[0]
            assert expired["kiosk_id"].startswith("phone-") and expired["name"] == TEA[1]
            assert recalled["recall_id"] == RECALL["recall_id"] and recalled["name"] == CRACKERS[1]

            # the same basket in Chinese: the markdown is worded by the page, not the box's English
            page.select_option("#lang", "zh-CN")
            expect(milk.locator(".detail")).to_contain_text("临期 30% 折扣：今天到期")
            expect(milk.locator(".detail")).not_to_contain_text("use by")
    finally:
        manager.close()


def test_the_kiosk_refuses_expired_and_recalled_packs_and_marks_down_the_last_day(
    shop: Shop, browser: Any, zone: tuple[str, date]
) -> None:
    applied_recalls(shop)
    today = zone[1]
    manager = Guide(shop.broker.port, "manager-kiosk-shelf", [ALERTS])
    try:
        with open_pages(browser, shop.url) as pages:
            page, console = pages.open("/kiosk")
            console.allow(r"status of 422")  # the two refused packs: the answers the page words
            page.get_by_label("Kiosk device token").fill(shop.tokens["kiosk-1"])
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_role("heading", name="Scan your first item to start")).to_be_visible()
            page.get_by_role("button", name="Type a barcode instead").click()

            def key_in(text: str) -> None:
                page.get_by_placeholder("Type a barcode").fill(text)
                page.get_by_role("button", name="Add", exact=True).click()

            key_in(element_string(TEA, today - timedelta(days=1), "A1"))
            expect(page.locator("#alert")).to_contain_text(EXPIRED_EN)
            key_in(element_string(CRACKERS, today + timedelta(days=300), "LOT9"))
            expect(page.locator("#alert")).to_contain_text(RECALLED_EN)
            full_width = str.maketrans("()0123456789", "（）０１２３４５６７８９")  # a Chinese keyboard's
            key_in(element_string(MILK, today, "B2").translate(full_width))
            lines = page.locator("#lines li.line")
            expect(lines).to_have_count(1)
            markdown = lines.locator(".adj[data-kind='markdown']")
            expect(markdown.locator(".why")).to_have_text("30% off: use by today")
            expect(markdown.locator(".off")).to_have_text("−CN¥4.05")
            expect(page.locator("#total")).to_contain_text("9.45")
            shot(page, "kiosk-shelf")

            expired = manager.wait_for(
                lambda m: (m.get("kiosk_id"), m.get("type")) == ("kiosk-1", "checkout.item_expired")
            )[0]
            recalled = manager.wait_for(
                lambda m: (m.get("kiosk_id"), m.get("type")) == ("kiosk-1", "checkout.item_recalled")
            )[0]
            assert expired["name"] == TEA[1] and recalled["recall_id"] == RECALL["recall_id"]

            page.get_by_label("Language").select_option("zh-CN")
            expect(markdown.locator(".why")).to_have_text("临期 30% 折扣：今天到期")

            # and a guide's handheld asks for both packs to come off sale, in one task for the cart
            guide, _ = pages.open("/guide", viewport={"width": 390, "height": 844})
            guide.get_by_label("Device token").fill(shop.tokens["guide-1"])
            guide.get_by_role("button", name="Sign in").click()
            pull = guide.locator("li.task[data-kind=pack_pull]", has_text="kiosk-1")
            expect(pull).to_contain_text(f"Take off sale: {TEA[1]}, {CRACKERS[1]}")
            expect(pull.locator(".packs li")).to_have_text(
                [
                    re.compile(rf"^{re.escape(TEA[1])}: past its use-by date \(.+\)$"),
                    f"{CRACKERS[1]}: recalled ({RECALL['reason']})",
                ]  # fmt: skip
            )
            pull.get_by_role("button", name="Claim").click()
            shot(guide, "handheld-pack-pull")
            pull.get_by_role("button", name="Taken off sale").click()
            expect(pull).to_have_count(0)
    finally:
        manager.close()


def test_the_fitting_room_refuses_a_recalled_garment_and_calls_a_guide_once(shop: Shop, browser: Any) -> None:
    applied_recalls(shop)
    settings = load_settings(None, overrides=shop.config)
    token = room_codes(settings, Path(shop.config["storage"]["data_dir"])).token("room-1")
    with open_pages(browser, shop.url) as pages:
        for locale, said in RECALLED_FIT.items():  # two shoppers' phones bring the same tee in
            page, console = pages.open(f"/fit/{token}", viewport={"width": 360, "height": 740}, locale=locale)
            console.allow(r"status of 422")  # the refused garment: the answer the page words
            expect(page.locator("#room-name")).to_have_text("Room 1")
            page.locator("#code").fill(TEE[0])
            page.locator("#code").press("Enter")
            expect(page.locator("#toast")).to_have_text(said)
            expect(page.locator("#items li.item")).to_have_count(0)
            shot(page, f"fitting-recalled-{locale}")
    guide = {"Authorization": f"Bearer {shop.tokens['guide-1']}"}
    calls = httpx.get(f"{shop.url}/api/fitting/calls", headers=guide, timeout=10).json()
    notes = [c["note"] for c in calls if c["note"].startswith(f"Recalled item in this room: {TEE[2]}")]
    assert len(notes) == 1 and "loose buttons" in notes[0], calls  # a guide takes it back; repeats merge
