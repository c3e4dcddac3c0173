"""Dashboard in Chromium with a store that has history: sales, a void and a refund found by
search; guide response-time stats and the sales guides get credit for; secrets masked in the
configuration; each model's sha256 check; WCAG AA contrast on every tab (and the contrast check
itself catches poor text)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from edge.demo.catalog import CRACKERS, WATER
from edge.demo.gtins import FASHION
from tests.conftest import shared_path
from tests.e2e.a11y import assert_contrast
from tests.e2e.conftest import (
    Pages,
    Store,
    assert_secrets_masked,
    login_dashboard,
    open_pages,
    shot,
    staff_client,
    start_store,
    store_config,
)
from tests.e2e.test_fitting import room_token
from tests.support.services import DaemonProcess, Mosquitto
from tests.support.waits import wait_for

TABS = ("Overview", "Cameras", "Charts", "Fitting room", "Transactions", "Devices, users, models", "Configuration")


@pytest.fixture
def history_store(tmp_path: Path, mosquitto: Mosquitto, daemon_factory: type[DaemonProcess]) -> Iterator[Store]:
    """No cameras; a model folder with one genuine model file and one damaged copy."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(shared_path("models/yunet_s_dynamic.onnx"), models / "yunet_s_dynamic.onnx")
    (models / "mobilefacenet_paddlex_128d.onnx").write_bytes(b"not the model the manifest names")
    data_dir = tmp_path / "data"
    config = store_config(data_dir, mosquitto, None)
    config["model_dir"] = str(models)
    yield start_store(data_dir, config, mosquitto, daemon_factory)


def _sale(store: Store, code: str, guide_code: str | None = None) -> str:
    kiosk = httpx.Client(base_url=store.url, timeout=15, headers={"Authorization": f"Bearer {store.tokens['kiosk-1']}"})
    sid = kiosk.post("/api/kiosk/sessions", json={"resume": False}).json()["session_id"]
    if guide_code is not None:
        assert kiosk.post(f"/api/kiosk/sessions/{sid}/guide", json={"code": guide_code}).status_code == 200
    assert kiosk.post(f"/api/kiosk/sessions/{sid}/items", json={"code": code, "qty": 1}).status_code == 201
    out = kiosk.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"})
    assert out.status_code == 200, out.text
    return str(out.json()["order_id"])


def _refund(staff: httpx.Client, order_id: str) -> None:
    """Refunded as soon as the sandbox has captured (a moment after the sale); any other refusal fails."""

    def refund() -> httpx.Response:
        r = staff.post(f"/api/checkout/orders/{order_id}/refund", json={"reason": "damaged box"})
        assert r.status_code == 200 or r.json()["error"]["code"] == "payment_not_captured", r.text
        return r

    wait_for(refund, 20, f"order {order_id} to be refundable (captured)", until=lambda r: r.status_code == 200)


def _handled_call(store: Store) -> None:
    """A help call from room 1's phone page, claimed and resolved by guide-1."""
    token = room_token(store, "room-1")
    phone = {"Cookie": f"re_phone={httpx.get(f'{store.url}/fit/{token}').cookies['re_phone']}"}  # the page's cookie
    base = f"{store.url}/api/fitting/rooms/{token}"
    call = httpx.post(f"{base}/calls", json={"kind": "help", "note": "", "request_id": "stats-call-1"}, headers=phone)
    assert call.status_code in (200, 201), call.text
    guide = httpx.Client(base_url=store.url, timeout=10, headers={"Authorization": f"Bearer {store.tokens['guide-1']}"})
    call_id = call.json()["call"]["id"]
    assert guide.post(f"/api/fitting/calls/{call_id}/claim", json={}).status_code == 200
    assert guide.post(f"/api/fitting/calls/{call_id}/resolve", json={}).status_code == 200
    tried = httpx.post(f"{base}/items", json={"code": FASHION[0][0]}, headers=phone)  # tried on in that visit
    assert tried.status_code == 201, tried.text
    _sale(store, FASHION[0][0])  # ... and bought at a kiosk: guide-1 gets credit
    code = guide.get("/api/fitting/guide-code").json()["code"]
    _sale(store, FASHION[1][0], guide_code=code)  # a shopper who scanned guide-1's code


def test_history_search_stats_secrets_models_and_contrast(history_store: Store, browser: Any) -> None:
    store = history_store
    staff = staff_client(store)
    kept, voided, refunded = _sale(store, WATER), _sale(store, CRACKERS), _sale(store, WATER)
    assert staff.post(f"/api/checkout/orders/{voided}/void", json={"reason": "changed mind"}).status_code == 200
    _refund(staff, refunded)
    _handled_call(store)

    with open_pages(browser, store.url) as p:
        _dashboard_checks(p, store, kept, voided, refunded)


def _dashboard_checks(p: Pages, store: Store, kept: str, voided: str, refunded: str) -> None:
    page, _ = p.open("/dashboard")
    expect(page.get_by_label("User name")).to_be_visible()
    assert_contrast(page, "dashboard login")
    login_dashboard(page)
    for tab in TABS:
        page.get_by_role("tab", name=tab).click()
        expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
        expect(page.locator("[role=tabpanel]:visible")).to_have_count(1)
        page.wait_for_timeout(700)  # the panel's first refresh (its API call) has drawn
        assert_contrast(page, f"dashboard {tab}")

    # transactions: every sale, the void and the refund each have their row; search finds one order
    page.get_by_role("tab", name="Transactions").click()
    rows = page.locator("#tx-rows tr")
    expect(page.locator("#tx-rows tr[data-kind=void]")).to_have_count(1)
    expect(page.locator(f"#tx-rows tr[data-kind=void][data-order='{voided}']")).to_contain_text("Void")
    refund_row = page.locator(f"#tx-rows tr[data-kind=refund][data-order='{refunded}']")
    expect(refund_row).to_contain_text(re.compile(r"[-−]CN¥4\.50"))  # money going back
    expect(refund_row).to_contain_text("damaged box")
    expect(page.locator("#tx-rows tr[data-kind=order]")).to_have_count(4)  # with guide-1's two sales
    page.get_by_placeholder("Order, member or kiosk").fill(refunded)
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(2)  # the sale and its refund, nothing else
    assert {r.get_attribute("data-order") for r in rows.all()} == {refunded}
    page.get_by_placeholder("Order, member or kiosk").fill(kept[-12:])
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(page.locator(f"#tx-rows tr[data-kind=order][data-order='{kept}']")).to_be_visible()
    shot(page, "dashboard-transactions-search")

    # the fitting board's guide response-time stats count the handled call
    page.get_by_role("tab", name="Fitting room").click()
    stats = page.locator("#fitting-stats")
    expect(stats).to_contain_text("guide-1")
    expect(stats).to_contain_text(re.compile(r"1 claimed, 1 resolved; median claim \d+ s, resolve \d+ s"))
    # ... and what guide-1's try-ons and code turned into: 1 item tried and bought, 1 bought by the code
    row = page.locator("#perf-guides tr[data-guide=guide-1] td")
    expect(row).to_have_text([re.compile("guide-1"), "1", re.compile(r"\d"), "1", "2", "100%", re.compile(r"CN¥")])
    expect(page.locator("#perf-styles tr")).to_have_count(1)
    shot(page, "dashboard-guide-performance")

    # configuration: every stored secret is listed by name, its value shown as *** and never in clear
    page.get_by_role("tab", name="Configuration").click()
    assert_secrets_masked(page, store)
    shot(page, "dashboard-config-masked")

    # models: the sha256 of each file is checked against the manifest
    page.get_by_role("tab", name="Devices, users, models").click()
    expect(page.locator("#model-rows tr[data-model=yunet_dynamic]")).to_contain_text("sha256 verified")
    expect(page.locator("#model-rows tr[data-model=yunet_dynamic] .badge")).to_have_text("OK")
    damaged = page.locator("#model-rows tr[data-model=mobilefacenet]")
    expect(damaged).to_contain_text("sha256 does not match")
    expect(damaged).to_contain_text("differs from the manifest")
    expect(page.locator("#model-rows tr[data-model=minifasnet_v2]")).to_contain_text("file missing")
    spare = page.locator("#model-rows tr[data-model=yunet_640]")  # optional, not selected, not installed
    expect(spare).to_contain_text("not installed (optional")
    expect(spare.locator(".badge")).to_have_text("Optional")
    expect(spare.locator(".badge.down")).to_have_count(0)
    shot(page, "dashboard-models-sha256")

    # the contrast check is not a rubber stamp: light grey text on white is caught
    page.evaluate(
        "() => { const p = document.createElement('p'); p.textContent = 'faint'; p.style.color = '#aaaaaa';"
        " document.querySelector('#model-rows').closest('section').append(p); }"
    )
    with pytest.raises(AssertionError, match="faint"):
        assert_contrast(page, "dashboard with a faint line")
