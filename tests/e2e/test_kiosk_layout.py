"""The kiosk as a product, in Chromium: the portrait (1080x1920) and landscape (1920x1080) layouts
with a full cart (promotions, a member price, coupons), large type and touch targets, in English
and Chinese, with screenshots of each in test-artifacts/; Chinese glyphs really drawn (the CJK
font is installed); every price text rendered by the page from the server's codes in the
shopper's language and the store's currency; a language switch redraws everything on screen
(cart, banner, error box, the paying and paid screens); a stale error banner goes with the next
success, typed or arriving over the stream, while an added item's own alert stays.

The store here has no cameras, so nothing scans by itself: every item comes from the test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from edge.demo.catalog import CRACKERS, RICE_WINE, WATER
from edge.demo.gtins import GROCERY, ean13
from tests.e2e.a11y import assert_contrast, assert_touch_targets
from tests.e2e.conftest import Pages, Store, open_pages, shot, staff_client, start_store, store_config
from tests.support.services import DaemonProcess, Mosquitto

TEA, MILK, CHOCOLATE = GROCERY[0][0], GROCERY[1][0], GROCERY[4][0]
PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}
KIOSK_TARGET_PX = 64  # docs/pages.md: kiosk touch targets
READABLE_PX = 32  # item names and prices, read from about 1 m
TOTAL_PX = 48
MEMBER_PHONE = "13912345678"


@pytest.fixture
def quiet_store(tmp_path: Path, mosquitto: Mosquitto, daemon_factory: type[DaemonProcess]) -> Store:
    """The demo catalog and promotions, no cameras: the cart holds exactly what the test puts in."""
    data_dir = tmp_path / "data"
    return start_store(data_dir, store_config(data_dir, mosquitto, None), mosquitto, daemon_factory)


@pytest.fixture
def kiosk_pages(browser: Any, quiet_store: Store) -> Iterator[Pages]:
    with open_pages(browser, quiet_store.url) as p:
        yield p


def _kiosk_api(store: Store) -> httpx.Client:
    """The kiosk's own API client (as its camera's scans reach the cart: not through the page)."""
    return httpx.Client(base_url=store.url, timeout=10, headers={"Authorization": f"Bearer {store.tokens['kiosk-1']}"})


def _session(kiosk: httpx.Client) -> str:
    r = kiosk.post("/api/kiosk/sessions", json={"resume": True})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["session_id"])


def _add(kiosk: httpx.Client, sid: str, code: str, qty: int = 1) -> dict[str, Any]:
    r = kiosk.post(f"/api/kiosk/sessions/{sid}/items", json={"code": code, "qty": qty})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _full_cart(store: Store) -> None:
    """Several items, a 3-for-12.00, a buy-2-get-1-free, the spend-100 threshold, a member price,
    a coupon applied and one waiting for its minimum spend."""
    staff = staff_client(store)
    member = staff.post("/api/checkout/members", json={"phone": MEMBER_PHONE, "name": "Wang Fang"})
    assert member.status_code == 201, member.text
    valid_to = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    coupons = []
    for body in (
        {"kind": "percent", "value": 5, "name": "Spring 5% off"},
        {"kind": "fixed", "value": 5000, "name": "Big basket 50 off", "min_spend_minor": 50000},
    ):
        issued = staff.post("/api/checkout/coupons", json={**body, "valid_to": valid_to})
        assert issued.status_code == 201, issued.text
        coupons.append(issued.json()["codes"][0])
    with _kiosk_api(store) as kiosk:
        sid = _session(kiosk)
        for code, qty in ((TEA, 2), (MILK, 1), (WATER, 3), (CRACKERS, 3), (CHOCOLATE, 1)):
            _add(kiosk, sid, code, qty)
        r = kiosk.post(f"/api/kiosk/sessions/{sid}/member", json={"phone": MEMBER_PHONE})
        assert r.status_code in (200, 201), r.text
        for code in coupons:
            r = kiosk.post(f"/api/kiosk/sessions/{sid}/coupons", json={"code": code})
            assert r.status_code in (200, 201), r.text
        cart = kiosk.get(f"/api/kiosk/sessions/{sid}").json()
    codes = {a["code"] for line in cart["lines"] for a in line["adjustments"]}
    assert {"promo.multibuy", "promo.free", "promo.threshold_excluding", "member_price", "coupon.percent"} <= codes
    assert [c["code"] for c in cart["coupons_not_applied"]] == ["min_spend_not_met"]


def _open_kiosk(pages: Pages, store: Store, viewport: dict[str, int]) -> tuple[Any, Any]:
    page, console = pages.open("/kiosk", viewport=viewport)
    page.get_by_label("Kiosk device token").fill(store.tokens["kiosk-1"])
    page.get_by_role("button", name="Save").click()
    return page, console


GEOMETRY_JS = """
() => {
  const box = (sel) => { const r = document.querySelector(sel).getBoundingClientRect();
    return { top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height, width: r.width }; };
  const px = (sel) => parseFloat(getComputedStyle(document.querySelector(sel)).fontSize);
  return {
    vw: innerWidth, vh: innerHeight, scroll: document.scrollingElement.scrollHeight,
    main: box(".cart-main"), side: box(".cart-side"), lines: box("#lines"), first: box("#lines li.line"),
    total: box("#total"), pay: box("#pay-sandbox"), payQr: box("#pay-qr"),
    namePx: px("#lines .line .name"), amountPx: px("#lines .line .amount"), totalPx: px("#total"),
    adjPx: px("#lines .adj"),
  };
}
"""


def _assert_layout(page: Any, orientation: str) -> None:
    g = page.evaluate(GEOMETRY_JS)
    where = f"{orientation} {g['vw']}x{g['vh']}"
    assert g["scroll"] <= g["vh"] + 1, f"{where}: the page scrolls ({g['scroll']} px); only the item list may"
    # the cart fills the screen, not its top quarter: the items down to half of it at least, and
    # the totals and pay buttons to its foot
    assert g["main"]["bottom"] >= 0.5 * g["vh"], f"{where}: the item list ends at {g['main']['bottom']}"
    assert g["side"]["bottom"] >= 0.95 * g["vh"], f"{where}: the cart ends at {g['side']['bottom']}"
    assert g["pay"]["bottom"] <= g["vh"] and g["total"]["bottom"] <= g["vh"], f"{where}: pay or total off screen"
    if orientation == "portrait":
        # items on top, totals and pay buttons at the bottom, within a thumb's reach
        assert g["lines"]["top"] < 0.2 * g["vh"], f"{where}: the items start at {g['lines']['top']}"
        assert g["side"]["top"] > g["main"]["bottom"] - 1, f"{where}: totals not below the items"
        for name in ("pay", "payQr", "total"):
            assert g[name]["top"] > 0.7 * g["vh"], f"{where}: {name} at {g[name]['top']}, not in the bottom 30%"
        assert g["main"]["width"] > 0.9 * g["vw"], f"{where}: the items do not use the screen's width"
    else:
        # two columns: the items on the left, the totals and pay buttons on the right, at its foot
        assert g["side"]["left"] >= g["main"]["right"] - 1, f"{where}: not two columns"
        assert g["main"]["width"] > 0.55 * g["vw"], f"{where}: the item column is {g['main']['width']} wide"
        assert g["pay"]["top"] > 0.6 * g["vh"], f"{where}: pay buttons at {g['pay']['top']}"
        assert g["side"]["bottom"] > 0.9 * g["vh"], f"{where}: the pay column stops at {g['side']['bottom']}"
    # readable from a step back
    assert g["namePx"] >= READABLE_PX and g["amountPx"] >= READABLE_PX, f"{where}: item text {g}"
    assert g["totalPx"] >= TOTAL_PX, f"{where}: total {g['totalPx']} px"
    assert g["adjPx"] >= 24, f"{where}: savings {g['adjPx']} px"
    assert_touch_targets(page, f"kiosk {where}", KIOSK_TARGET_PX)
    assert_contrast(page, f"kiosk {where}")


GLYPHS_JS = r"""
(sample) => {
  // draw one character in the page's own font; a character no font has is drawn as the
  // missing-glyph box ("tofu"), the same box for every such character
  const family = getComputedStyle(document.querySelector("[data-screen=cart] h2")).fontFamily;
  const draw = (ch) => {
    const c = document.createElement("canvas");
    c.width = 96; c.height = 96;
    const g = c.getContext("2d", { willReadFrequently: true });
    g.fillStyle = "#fff"; g.fillRect(0, 0, 96, 96);
    g.fillStyle = "#000"; g.font = `72px ${family}`; g.textBaseline = "top";
    g.fillText(ch, 8, 8);
    const px = g.getImageData(0, 0, 96, 96).data;
    const out = [];
    for (let i = 0; i < px.length; i += 4) out.push(px[i] < 128 ? 1 : 0);
    return { bits: out.join(""), ink: out.reduce((a, b) => a + b, 0), width: g.measureText(ch).width };
  };
  const tofu = draw("\u{10FFFD}"), tofu2 = draw("\u{10FFFC}");
  const chars = [...sample].map((ch) => ({ ch, ...draw(ch) }));
  return {
    family,
    tofuAlike: tofu.bits === tofu2.bits,
    chars: chars.map((c) => ({ ch: c.ch, ink: c.ink, isTofu: c.bits === tofu.bits, width: c.width })),
    distinct: new Set(chars.map((c) => c.bits)).size,
  };
}
"""


def _assert_cjk_glyphs(page: Any, sample: str = "中文您的商品") -> None:
    """Chinese text is drawn with real glyphs, not missing-glyph boxes: each character differs
    from the box a character no font has gets, and from each other. (The method is checked
    too: two characters no font has must draw the same box.)"""
    out = page.evaluate(GLYPHS_JS, sample)
    assert out["tofuAlike"], f"two missing glyphs drew differently; the check cannot tell tofu: {out['family']}"
    boxes = [c["ch"] for c in out["chars"] if c["isTofu"] or c["ink"] == 0]
    assert not boxes and out["distinct"] == len(sample), (
        f"Chinese characters {boxes or sample} render as missing-glyph boxes in {out['family']}: "
        "install the CJK font: `apt-get install -y fonts-noto-cjk` (scripts/bootstrap.sh does)"
    )
    # and the page's own text: the heading's characters come from a CJK font
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": 1})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "[data-screen=cart] h2"})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        cdp.detach()
    used = {f["familyName"]: f["glyphCount"] for f in fonts}
    assert any("CJK" in name for name in used), (
        f"the heading is drawn with {used}, no CJK font: `apt-get install -y fonts-noto-cjk`"
    )


def test_kiosk_portrait_and_landscape_in_both_languages(kiosk_pages: Pages, quiet_store: Store) -> None:
    _full_cart(quiet_store)
    for orientation, viewport in (("landscape", LANDSCAPE), ("portrait", PORTRAIT)):
        page, _ = _open_kiosk(kiosk_pages, quiet_store, viewport)
        lines = page.locator("#lines li.line")
        expect(lines).to_have_count(5)
        water = page.locator(f"li.line[data-gtin$='{WATER}']")
        crackers = page.locator(f"li.line[data-gtin$='{CRACKERS}']")
        chocolate = page.locator(f"li.line[data-gtin$='{CHOCOLATE}']")
        # promotion texts come as codes; the page says them with the store's currency
        # (the promotion's own name is the retailer's text, shown as typed)
        expect(water.locator(".adj[data-code='promo.multibuy'] .why")).to_have_text(
            "Sparkling water 3 for 12.00: 3 for CN¥12.00"
        )
        expect(water.locator(".adj[data-code='promo.multibuy'] .off")).to_have_text("−CN¥1.50")
        expect(crackers.locator(".adj[data-code='promo.free'] .why")).to_contain_text("Buy 2, get 1 free")
        expect(chocolate.locator(".adj[data-code='member_price'] .why")).to_have_text(
            "Member price CN¥14.90 instead of CN¥15.90"
        )
        expect(water.locator(".amount")).to_have_text("CN¥12.00")
        # order-wide discounts are shown once, by the totals (the lines show their own)
        discounts = page.locator("#order-discounts")
        expect(discounts.locator(".adj[data-code='promo.threshold_excluding'] .why")).to_have_text(
            "20.00 off when you spend 100.00: CN¥20.00 off when you spend CN¥100.00 or more (not counting alcohol)"
        )
        expect(discounts.locator(".adj[data-code='promo.threshold_excluding'] .off")).to_have_text("−CN¥20.00")
        expect(discounts.locator(".adj[data-code='coupon.percent'] .why")).to_have_text(
            "Spring 5% off: 5% off CN¥98.00"
        )
        expect(water.locator(".adj")).to_have_count(1)
        expect(page.locator("#coupons li[data-code='min_spend_not_met']")).to_contain_text(
            re.compile(r"Big basket 50 off — Needs a spend of CN¥500\.00; your cart is CN¥\d+\.\d\d")
        )
        expect(page.locator("#member")).to_have_text("Member: ••• 5678")
        shot(page, f"kiosk-{orientation}-en")
        _assert_layout(page, orientation)

        page.get_by_label("Language").select_option("zh-CN")
        expect(page.get_by_role("heading", name="您的商品")).to_be_visible()
        expect(water.locator(".adj[data-code='promo.multibuy'] .why")).to_have_text(
            "Sparkling water 3 for 12.00: 3 件 ¥12.00"
        )
        expect(crackers.locator(".adj[data-code='promo.free'] .why")).to_contain_text("买 2 送 1")
        expect(chocolate.locator(".adj[data-code='member_price'] .why")).to_have_text("会员价 ¥14.90（原价 ¥15.90）")
        expect(discounts.locator(".adj[data-code='promo.threshold_excluding'] .why")).to_have_text(
            "20.00 off when you spend 100.00: 满 ¥100.00 减 ¥20.00（alcohol 不计入）"
        )
        expect(discounts.locator(".adj[data-code='coupon.percent'] .why")).to_have_text(
            "Spring 5% off: ¥98.00 享 5% 折扣"
        )
        expect(page.locator("#coupons li[data-code='min_spend_not_met']")).to_contain_text("需消费满 ¥500.00")
        expect(page.locator("#member")).to_have_text("会员：••• 5678")
        expect(page.get_by_role("button", name="付款码支付")).to_be_visible()
        shot(page, f"kiosk-{orientation}-zh-CN")
        _assert_cjk_glyphs(page)
        _assert_layout(page, orientation)

    # the last screen pays: the exit pass and the receipt, in portrait and in Chinese
    page.get_by_role("button", name="支付（沙箱）").click()
    expect(page.get_by_role("heading", name="谢谢！请在出口闸机出示此码")).to_be_visible()
    expect(page.locator("#receipt")).to_contain_text("合计")
    page.wait_for_function("() => document.querySelector('#pass-qr').naturalWidth > 0")
    qr = page.locator("#pass-qr").bounding_box()
    assert qr and qr["width"] >= 400, f"the exit pass is {qr} on a portrait kiosk"
    assert_touch_targets(page, "kiosk portrait paid", KIOSK_TARGET_PX)
    # the heading, the pass and "Done" are all on the screen (a long receipt scrolls in its card)
    for what in (page.get_by_role("heading", name="谢谢！请在出口闸机出示此码"), page.locator("#pass-qr"),
                 page.get_by_role("button", name="完成")):  # fmt: skip
        box = what.bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= PORTRAIT["height"], (what, box)
    shot(page, "kiosk-portrait-paid-zh-CN")


def test_stale_banners_go_with_the_next_success_and_a_language_switch_redraws_everything(
    kiosk_pages: Pages, quiet_store: Store
) -> None:
    page, console = kiosk_pages.open("", viewport=LANDSCAPE)
    page.clock.install()
    page.goto("/kiosk")
    page.get_by_label("Kiosk device token").fill(quiet_store.tokens["kiosk-1"])
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Scan your first item to start")).to_be_visible()
    shot(page, "kiosk-landscape-attract-en")
    # the page's clock stands still from here: a banner can only go because something cleared it
    # (its own 6 s timer never fires)
    page.clock.pause_at(datetime.now(UTC) + timedelta(seconds=1))
    console.allow(r"status of 4\d\d")
    alert = page.locator("#alert")
    lines = page.locator("#lines li.line")

    # typed: an unknown code's banner, then a good code: the banner goes at once
    page.get_by_role("button", name="Type a barcode instead").click()
    page.get_by_placeholder("Type a barcode").fill(ean13("690123409999"))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(alert).to_have_text("This item is not in our catalog. Please ask a member of staff.")
    page.get_by_placeholder("Type a barcode").fill(WATER)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(lines).to_have_count(1)
    expect(alert).to_be_hidden()

    # over the stream (as a camera's scan arrives): another stale banner goes when the item lands
    page.get_by_placeholder("Type a barcode").fill(ean13("690123409999"))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(alert).to_be_visible()
    with _kiosk_api(quiet_store) as kiosk:
        sid = _session(kiosk)
        _add(kiosk, sid, CRACKERS)
        expect(lines).to_have_count(2)
        expect(alert).to_be_hidden()
        # an added item's own alert (an ID check) arrives just before its cart: it stays up
        _add(kiosk, sid, RICE_WINE)
        expect(lines).to_have_count(3)
        expect(page.locator("#age-banner")).to_be_visible()
        expect(alert).to_have_text("This item needs an ID check. A member of staff is on the way.")
        # the language switch redraws the banner too, and everything else on screen
        page.get_by_label("Language").select_option("zh-CN")
        expect(alert).to_have_text("此商品需要查验证件，工作人员马上就到。")
        expect(page.locator("#age-banner")).to_have_text("有商品需要查验身份证件，工作人员马上就到。")
        expect(page.get_by_role("heading", name="您的商品")).to_be_visible()
        expect(page.locator("#total")).to_contain_text("¥")
        expect(
            page.locator(f"li.line[data-gtin$='{CRACKERS}']").get_by_role("button", name=re.compile("^移除 "))
        ).to_be_visible()
        # the next success (the shopper removes the wine) clears it
        page.locator(f"li.line[data-gtin$='{RICE_WINE}'] button.danger").click()
        expect(lines).to_have_count(2)
        expect(alert).to_be_hidden()
        expect(page.locator("#age-banner")).to_be_hidden()
        _add(kiosk, sid, WATER, 2)  # 3 for 12.00
    water = page.locator(f"li.line[data-gtin$='{WATER}']")
    expect(water.locator(".adj[data-code='promo.multibuy'] .why")).to_contain_text("3 件 ¥12.00")

    # a refusal's banner in Chinese; switching back redraws it in English
    page.get_by_placeholder("输入条码").fill("123")
    page.get_by_role("button", name="添加", exact=True).click()
    expect(alert).to_be_visible()
    zh_refusal = alert.inner_text()
    assert re.search(r"[\u4e00-\u9fff]", zh_refusal), zh_refusal
    page.get_by_label("语言").select_option("en")
    expect(alert).not_to_have_text(zh_refusal)
    assert not re.search(r"[\u4e00-\u9fff]", alert.inner_text()), alert.inner_text()
    expect(water.locator(".adj[data-code='promo.multibuy'] .why")).to_contain_text("3 for CN¥12.00")

    # the payment-QR screen's error box follows the language
    page.get_by_role("button", name="Pay by payment QR").click()
    page.get_by_label("Payment code").fill("123")
    page.get_by_role("button", name="Pay", exact=True).click()
    box = page.locator("#qr-error")
    expect(box).to_be_visible()
    en_error = box.inner_text()
    page.get_by_label("Language").select_option("zh-CN")
    expect(box).not_to_have_text(en_error)
    assert re.search(r"[\u4e00-\u9fff]", box.inner_text()), box.inner_text()
    shot(page, "kiosk-landscape-qr-error-zh-CN")
    page.get_by_role("button", name="返回商品列表").click()

    # paying: held on the way, the screen's texts and amount follow the language
    held: list[Any] = []
    page.route("**/checkout", lambda route: held.append(route))
    page.get_by_role("button", name="支付（沙箱）").click()
    expect(page.get_by_role("heading", name="正在支付…")).to_be_visible()
    expect(page.locator("#paying-body")).to_have_text("请稍候，暂时不要拿走商品。")
    expect(page.locator("#paying-amount")).to_have_text(re.compile(r"^¥\d+\.\d\d$"))
    page.get_by_label("语言").select_option("en")
    expect(page.get_by_role("heading", name="Paying…")).to_be_visible()
    expect(page.locator("#paying-body")).to_have_text("Please wait; do not take your items yet.")
    expect(page.locator("#paying-amount")).to_have_text(re.compile(r"^CN¥\d+\.\d\d$"))
    assert len(held) == 1
    held[0].continue_()
    # paid: the pass countdown and the receipt follow the language
    expect(page.get_by_role("heading", name="Show this code at the exit gate")).to_be_visible()
    expect(page.locator("#receipt")).to_contain_text("Paid with: sandbox (test)")
    expect(page.locator("#pass-countdown")).to_contain_text("Valid for")
    page.get_by_label("Language").select_option("zh-CN")
    expect(page.locator("#pass-countdown")).to_contain_text("有效期还剩")
    expect(page.locator("#receipt")).to_contain_text("支付方式: 沙箱（测试）")
    expect(page.locator("#receipt")).to_contain_text("合计")
    page.wait_for_function("() => document.querySelector('#pass-qr').naturalWidth > 0")
    assert_touch_targets(page, "kiosk landscape paid", KIOSK_TARGET_PX)
    shot(page, "kiosk-landscape-paid-zh-CN")
    page.unroute("**/checkout")
