"""An exit rescan with the handheld's own camera, in Chromium whose camera plays a clip: the paid
item held up is ticked off the list, an unpaid one lands on the missing list, and "Items missing"
opens the corrective sale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import Store, open_pages, shot, start_store, store_config
from tests.e2e.phone_world import CRACKERS, TEA, camera_browser, pack, render_clip
from tests.support.services import DaemonProcess, Mosquitto

HANDHELD = {"width": 390, "height": 844}


def _flagged_order(store: Store) -> None:
    """A kiosk sale of one tea whose exit pass is flagged for a rescan (every pass is, here)."""
    auth = {"Authorization": f"Bearer {store.tokens['kiosk-1']}"}
    with httpx.Client(base_url=store.url, timeout=10, headers=auth) as k:
        sid = k.post("/api/kiosk/sessions", json={}).json()["session_id"]
        assert k.post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA[0]}).status_code == 201
        paid = k.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"})
        assert paid.status_code == 200, paid.text
    gate = httpx.post(f"{store.url}/api/gate/verify", json={"text": paid.json()["exit_pass"]},
                      headers={"Authorization": f"Bearer {store.tokens['gate-1']}"}, timeout=10)  # fmt: skip
    assert gate.json()["audit"] is True


def test_a_rescan_with_the_handhelds_camera(
    browser: Any, tmp_path: Path, mosquitto: Mosquitto, daemon_factory: type[DaemonProcess]
) -> None:
    data_dir = tmp_path / "data"
    config = store_config(data_dir, mosquitto, None)
    config["checkout"] = {"audit_share": 1.0}
    store = start_store(data_dir, config, mosquitto, daemon_factory)
    _flagged_order(store)
    # the basket held up to the camera: the paid tea, then crackers nobody paid for
    script = [
        (None, 1.0),
        (pack(TEA, (40, 90, 170)), 2.5),
        (None, 1.0),
        (pack(CRACKERS, (60, 140, 60)), 2.5),
        (None, 20.0),
    ]
    clip = render_clip(tmp_path / "rescan.y4m", script, seed=21)

    with camera_browser(browser, clip) as camera, open_pages(camera, store.url) as pages:
        guide, _ = pages.open("/guide", viewport=HANDHELD)
        guide.get_by_label("Device token").fill(store.tokens["guide-1"])
        guide.get_by_role("button", name="Sign in").click()
        rescan = guide.locator("li.task[data-kind=exit_audit]")
        rescan.get_by_role("button", name="Claim").click()
        rescan.get_by_role("button", name="Scan with camera").click()
        expect(guide.locator("#rescan-cam video")).to_be_visible()
        expect(rescan.locator(".rescan li.found")).to_contain_text(TEA[1], timeout=20_000)
        expect(rescan.get_by_label("Barcodes of unpaid items")).to_have_value("0" + CRACKERS[0], timeout=20_000)
        expect(guide.locator("#rescan-status")).to_contain_text("was not paid for")
        shot(guide, "handheld-rescan-camera")
        rescan.get_by_role("button", name="Items missing").click()
        expect(guide.locator("#guide-info")).to_contain_text("Corrective sale opened: 1 item(s)")
        expect(guide.locator("li.task")).to_have_count(0)
        expect(guide.locator("#rescan-cam")).to_be_hidden()  # the answered rescan closed the camera
