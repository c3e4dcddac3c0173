"""Staff actions on the dashboard, in Chromium against the real daemon: void and refund.

Sales paid on the Alipay rail (the gateway simulator keeps the money's books): the money goes back
through the rail, the order's state, its outbox event and its audit row (who and why) are right,
and a refusal is shown in words; the dialogs fit a 390 px phone.
"""

# ruff: noqa: F811 (the world's fixtures are imported and used as arguments)

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.a11y import assert_contrast, assert_touch_targets
from tests.e2e.conftest import (
    Pages,
    Store,
    login_dashboard,
    shot,
    staff_client,
)
from tests.e2e.dashboard_world import (  # noqa: F401 (rail_store: pytest fixture)
    PHONE,
    TEA,
    WATER,
    audit,
    browser_pages,
    fits,
    no_sideways_scroll,
    outbox,
    rail_store,
    receipt,
    rows,
    sale,
    wait_captured,
)
from tests.support.rails import Gateways, money_taken


# --- void and refund --------------------------------------------------------------------------
def test_void_and_refund_from_the_dashboard_go_back_through_the_rail(
    rail_store: tuple[Store, Gateways], browser: Any
) -> None:
    store, gw = rail_store
    with browser_pages(browser, store) as pages:
        _void_and_refund(pages, store, gw)


def _void_and_refund(pages: Pages, store: Store, gw: Gateways) -> None:
    staff = staff_client(store)
    sid_a, order_a = sale(store, [(TEA[0], 1)])
    sid_b, order_b = sale(store, [(TEA[0], 2), (WATER[0], 1)])
    for order in (order_a, order_b):
        wait_captured(staff, order)
    total_b = receipt(staff, order_b)["total_minor"]
    assert money_taken(gw.alipay.trades(), sid_b) == total_b

    page, console = pages.open("/dashboard")
    login_dashboard(page)
    page.get_by_role("tab", name="Transactions").click()
    row_b = page.locator(f"#tx-rows tr[data-kind=order][data-order='{order_b}']")
    expect(row_b).to_contain_text("paid")

    # refund one tea of order B: units, a reason (required), review, confirm
    row_b.locator("button[data-action=refund]").click()
    dlg = page.locator("dialog.staff-dialog[open]")
    expect(dlg.get_by_role("heading")).to_contain_text(order_b.replace("-", "")[-8:].upper())
    expect(dlg).to_contain_text("Alipay")
    dlg.get_by_role("button", name="Review refund").click()
    expect(dlg.get_by_role("alert")).to_have_text("Choose at least one unit to refund.")
    dlg.get_by_label(TEA[1]).fill("1")
    dlg.get_by_role("button", name="Review refund").click()
    expect(dlg.get_by_role("alert")).to_contain_text("Give a reason")
    dlg.get_by_label("Reason").fill("damaged box")
    dlg.get_by_role("button", name="Review refund").click()
    expect(dlg).to_contain_text("Refund CN¥29.90 through Alipay?")
    expect(dlg).to_contain_text("Reason: damaged box")
    assert gw.alipay.trades() and money_taken(gw.alipay.trades(), sid_b) == total_b, "nothing moved before the confirm"
    shot(page, "dashboard-refund-review")
    dlg.get_by_role("button", name="Refund now").click()
    expect(page.locator("dialog.staff-dialog")).to_have_count(0)
    notice = page.locator("#tx-notice")
    expect(notice).to_contain_text("CN¥29.90 refunded through Alipay. The order is now partly refunded.")

    # the money went back through the rail, once; the order, its outbox event and its audit agree
    [trade_b] = [t for t in gw.alipay.trades() if t["attach"] == sid_b]
    assert [r["amount_minor"] for r in trade_b["refunds"]] == [2990]
    assert money_taken(gw.alipay.trades(), sid_b) == total_b - 2990
    rb = receipt(staff, order_b)
    assert (rb["status"], rb["refunded_minor"]) == ("partially_refunded", 2990)
    [event] = outbox(store, "order.refunded", order_b)
    assert (event["amount_minor"], event["by"], event["lines"]) == (
        2990,
        "user:it-admin",
        [{"line_no": 1, "qty": 1, "amount_minor": 2990}],
    )
    assert audit(store, "checkout.order_refunded", order_b) == [
        ("user:it-admin", {"amount_minor": 2990, "reason": "damaged box"})
    ]
    expect(row_b).to_contain_text("partly refunded")
    expect(row_b.locator("button[data-action=void]")).to_have_count(0)  # a refunded sale is not voidable
    expect(page.locator(f"#tx-rows tr[data-kind=refund][data-order='{order_b}']")).to_contain_text("damaged box")

    # void order A: reason, review (Back keeps what was typed), confirm
    page.locator(f"#tx-rows tr[data-kind=order][data-order='{order_a}'] button[data-action=void]").click()
    dlg = page.locator("dialog.staff-dialog[open]")
    expect(dlg).to_contain_text("exit pass stops working")
    dlg.get_by_label("Reason").fill("wrong cart")
    dlg.get_by_role("button", name="Review void").click()
    expect(dlg).to_contain_text("send CN¥29.90 back through Alipay? Reason: wrong cart")
    dlg.get_by_role("button", name="Back").click()
    expect(dlg.get_by_label("Reason")).to_have_value("wrong cart")
    dlg.get_by_role("button", name="Review void").click()
    dlg.get_by_role("button", name="Void now").click()
    expect(notice).to_contain_text("voided: CN¥29.90 back through Alipay.")
    assert money_taken(gw.alipay.trades(), sid_a) == 0
    assert receipt(staff, order_a)["status"] == "voided"
    [voided] = outbox(store, "order.voided", order_a)
    assert (voided["by"], voided["reason"]) == ("user:it-admin", "wrong cart")
    assert audit(store, "checkout.order_voided", order_a) == [("user:it-admin", {"reason": "wrong cart"})]
    expect(page.locator(f"#tx-rows tr[data-kind=void][data-order='{order_a}']")).to_contain_text("voided")
    shot(page, "dashboard-void-refund")

    # on a 390 px phone: the refund dialog fits and its controls are big enough; a refund that
    # became impossible meanwhile (another desk refunded the rest) is refused in words
    phone, phone_console = pages.open("/dashboard", viewport=PHONE)
    phone_console.allow(r"status of 400")
    login_dashboard(phone)
    phone.get_by_role("tab", name="Transactions").click()
    no_sideways_scroll(phone, PHONE["width"])
    phone.locator(f"#tx-rows tr[data-kind=order][data-order='{order_b}'] button[data-action=refund]").click()
    dlg = phone.locator("dialog.staff-dialog[open]")
    expect(dlg.get_by_label(TEA[1])).to_have_attribute("max", "1")
    fits(phone, dlg, PHONE["width"])
    assert_touch_targets(phone, "refund dialog at 390 px")
    assert_contrast(phone, "refund dialog at 390 px")
    assert staff.post(f"/api/checkout/orders/{order_b}/refund", json={"reason": "at the desk"}).status_code == 200
    dlg.get_by_label(TEA[1]).fill("1")
    dlg.get_by_label("Reason").fill("second tea")
    dlg.get_by_role("button", name="Review refund").click()
    dlg.get_by_role("button", name="Refund now").click()
    expect(dlg.get_by_role("alert")).to_have_text("That refund quantity is not possible for this line.")
    shot(phone, "dashboard-refund-refused-390")
    dlg.get_by_role("button", name="Back").click()
    dlg.get_by_role("button", name="Cancel").click()
    phone.get_by_role("tab", name="Devices, users, models").click()
    expect(phone.locator("#device-rows tr[data-device=kiosk-1]")).to_be_visible()
    no_sideways_scroll(phone, PHONE["width"])  # the forms stack; the tables scroll in their own box
    assert_touch_targets(phone, "devices and users at 390 px")
    assert money_taken(gw.alipay.trades(), sid_b) == 0  # all of B back, and not a fen more
    assert console.unexpected() == []
