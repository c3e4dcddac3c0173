"""The demo a store manager tries (the README's first command's store) in Chromium: the kiosk
camera scans one shopper's basket when a session opens, staff approve the ID check on the handheld,
member A pays by face in front of the demo's face camera, the exit-gate screen opens for the pass;
then a second basket is paid with a wallet payment code through the gateway simulators."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from edge.demo.gtins import GROCERY
from tests.conftest import shared_path
from tests.e2e.conftest import Pages, open_pages, shot
from tests.support.services import ROOT, Mosquitto, free_port


@pytest.fixture
def demo(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[dict[str, Any]]:
    port = free_port()
    data = tmp_path / "demo"
    env = dict(os.environ, RETAIL_EDGE_MODEL_DIR=str(shared_path("models")))
    cmd = [sys.executable, "-m", "edge", "demo", "--data-dir", str(data), "--port", str(port),
           "--mqtt-url", mosquitto.url]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 180  # the first run renders clips and enrols two faces
        assert proc.stdout is not None
        while time.monotonic() < deadline and "Application startup complete" not in "".join(lines[-3:]):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        text = "".join(lines)
        assert "Application startup complete" in text, text[-3000:]
        creds = json.loads((data / "demo-credentials.json").read_text())
        yield {"url": f"http://127.0.0.1:{port}", "banner": text, "tokens": creds["devices"], "data": data}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


@pytest.fixture
def demo_pages(browser: Any, demo: dict[str, Any]) -> Iterator[Pages]:
    with open_pages(browser, demo["url"]) as p:
        yield p


def sign_in(page: Any, label: str, token: str, button: str) -> None:
    page.get_by_label(label).fill(token)
    page.get_by_role("button", name=button).click()


def test_a_manager_tries_the_demo_store(demo_pages: Pages, demo: dict[str, Any]) -> None:
    banner = demo["banner"]
    for shown in ("staff handheld:", "exit gate screen:", "member:", "coupon:", "members A and B enrolled"):
        assert shown in banner, banner
    tokens = demo["tokens"]
    handheld, _ = demo_pages.open("/guide", viewport={"width": 390, "height": 844})
    sign_in(handheld, "Device token", tokens["guide-1"], "Sign in")
    gate, _ = demo_pages.open("/gate")
    sign_in(gate, "Gate device token", tokens["gate-1"], "Save")
    expect(gate.locator("#verdict")).to_contain_text("Show your exit pass")
    kiosk, _ = demo_pages.open("/kiosk")
    sign_in(kiosk, "Kiosk device token", tokens["kiosk-1"], "Save")

    def basket_then_id_check() -> None:
        # the camera's shopper scans the basket once: every grocery item, once each
        expect(kiosk.locator("#lines li.line")).to_have_count(len(GROCERY), timeout=60_000)
        check = handheld.locator("li.task[data-kind=id_check]")
        claim = check.get_by_role("button", name="Claim")
        expect(claim).to_be_visible(timeout=60_000)  # the clip may still be playing when the count is met
        claim.click()
        check.get_by_role("button", name="ID OK").click()
        expect(kiosk.locator("#age-banner")).to_be_hidden()

    def through_the_gate(pass_text: str) -> None:
        gate.get_by_label("Or paste an exit pass").fill(pass_text)
        gate.get_by_role("button", name="Check").click()
        # open, or open with a rescan (a random share of passes is checked by staff)
        expect(gate.locator("#verdict")).to_have_attribute("data-state", re.compile("^(open|audit)$"))
        shot(gate, "demo-gate-open")

    basket_then_id_check()
    expect(kiosk.locator("#lines li.line")).to_have_count(len(GROCERY))  # played once, not looping
    with kiosk.expect_response("**/checkout") as paid:
        kiosk.get_by_role("button", name="Pay by face").click()
        expect(kiosk.get_by_role("heading", name="Show this code at the exit gate")).to_be_visible(timeout=60_000)
    expect(kiosk.locator("#receipt")).to_contain_text("Paid with: face")
    shot(kiosk, "demo-paid-by-face")
    through_the_gate(paid.value.json()["exit_pass"])

    # the next shopper: a new session plays the basket again; this one pays with a wallet code
    with kiosk.expect_response(lambda r: r.url.endswith("/api/kiosk/sessions") and r.request.method == "POST"):
        kiosk.get_by_role("button", name="Done").click()
    basket_then_id_check()
    kiosk.get_by_role("button", name="Pay by payment QR").click()
    with kiosk.expect_response("**/checkout") as paid:
        kiosk.get_by_label("Payment code").fill("281234567890123456")
        kiosk.get_by_label("Payment code").press("Enter")
        expect(kiosk.get_by_role("heading", name="Show this code at the exit gate")).to_be_visible(timeout=60_000)
    assert paid.value.json()["payment"]["provider"] == "alipay"
    through_the_gate(paid.value.json()["exit_pass"])
    expect(gate.locator("#recent li")).to_have_count(2)
