"""Face-pay on the kiosk page: the kiosk's face camera (a folder of real photos standing in for
the camera device) feeds the real ONNX pipeline. Nobody in front of the camera gets "look at the
camera"; a stranger is refused with a reason, a prompt and the phone-digit fall-back; the kiosk
resets itself from an abandoned face screen and stops polling the camera; an enrolled member
pays and gets the exit pass."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from playwright.sync_api import expect

from edge.demo.gtins import GROCERY
from edge.demo.media import letterbox
from edge.platform.codes import Codes
from edge.platform.security import SecretStore
from tests.conftest import shared_path
from tests.e2e.a11y import assert_contrast, assert_touch_targets
from tests.e2e.conftest import Pages, Store, open_pages, shot, start_store, store_config
from tests.support.services import DaemonProcess, Mosquitto
from tests.support.waits import wait_for

FACES = "data/faces/images/deepface__{}.jpg"
WATER = GROCERY[3]


def _frame_720p(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, f"cv2.imread could not read {path}"
    return letterbox(img)


def _show_camera(folder: Path, frame: np.ndarray) -> None:
    """What the face camera sees from now on (each file replaced whole: the reader never sees half)."""
    for i in range(4):
        tmp = folder / f"{i:02d}.next.png"
        cv2.imwrite(str(tmp), frame)  # lossless: JPEG artefacts lower liveness
        os.replace(tmp, folder / f"{i:02d}.png")


def _camera_sees(store: Store, dark: bool, timeout: float = 20.0) -> None:
    """Until the kiosk's face camera delivers the new picture, as the kiosk's own preview shows it
    (a busy box reads the folder late, and a verify started before that judges the old one)."""
    headers = {"Authorization": f"Bearer {store.tokens['kiosk-1']}"}

    def preview_dark() -> bool | str:
        r = httpx.get(f"{store.url}/api/ui/kiosk/face-preview.jpg", headers=headers, timeout=5)
        if r.status_code != 200:
            return f"HTTP {r.status_code}"
        img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_GRAYSCALE)
        return "not an image" if img is None else float(img.mean()) < 5

    wait_for(preview_dark, timeout, f"the face camera to show the new {'dark' if dark else 'lit'} picture",
             until=lambda seen: seen is dark)  # fmt: skip


@pytest.fixture
def face_store(tmp_path: Path, mosquitto: Mosquitto, daemon_factory: type[DaemonProcess]) -> Iterator[Store]:
    folder = tmp_path / "face-cam"
    folder.mkdir()
    _show_camera(folder, _frame_720p(shared_path(FACES.format("img50"))))
    data_dir = tmp_path / "data"
    config = store_config(data_dir, mosquitto, None)
    config["model_dir"] = str(shared_path("models"))
    config["cameras"] = [{"id": "kiosk-1-face", "role": "face", "target": "kiosk-1", "source": str(folder), "fps": 8.0}]
    store = start_store(data_dir, config, mosquitto, daemon_factory)
    wait_for(lambda: httpx.get(f"{store.url}/readyz").json()["components"]["models"], 60, "the face models to load",
             until=lambda models: models["status"] == "ok")  # fmt: skip
    yield store


def _enrol(store: Store, member_id: str, names: tuple[str, ...]) -> dict[str, Any]:
    images = [base64.b64encode(shared_path(FACES.format(n)).read_bytes()).decode() for n in names]
    # the member shows their QR card at the kiosk: it proves who is enrolling
    code = Codes(SecretStore(Path(store.config["storage"]["data_dir"]))).member_code(member_id)
    body = {"member_id": member_id, "member_code": code, "consent_version": "v1", "consent": True, "images_b64": images}
    headers = {"Authorization": f"Bearer {store.tokens['kiosk-1']}"}
    r = httpx.post(f"{store.url}/api/face/enroll", json=body, headers=headers, timeout=60)
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
def face_pages(browser: Any, face_store: Store) -> Iterator[Pages]:
    with open_pages(browser, face_store.url) as p:
        yield p


def _add_water(page: Any) -> None:
    page.get_by_role("button", name="Type a barcode instead").click()  # no kiosk camera here
    page.get_by_placeholder("Type a barcode").fill(WATER[0])
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#lines li.line")).to_have_count(1)


def test_pay_by_face_refusal_then_match(face_pages: Pages, face_store: Store, tmp_path: Path) -> None:
    camera = tmp_path / "face-cam"  # the face_store fixture's camera folder
    page, console = face_pages.open("")
    page.clock.install()  # the idle reset below waits ten minutes in no time
    page.goto("/kiosk")
    page.get_by_label("Kiosk device token").fill(face_store.tokens["kiosk-1"])
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name="Scan your first item to start").wait_for()
    _add_water(page)

    # nobody in front of the camera: while it checks, a gentle cycle of prompts; then the prompt
    # the answer asks for, which stays put (the cycle stops) next to the reason
    _show_camera(camera, np.zeros((720, 1280, 3), np.uint8))
    _camera_sees(face_store, dark=True)
    prompt = page.locator("#face-prompt")
    page.get_by_role("button", name="Pay by face").click()
    expect(prompt).to_have_attribute("data-prompt", re.compile(r"^kiosk\.face\.(look|blink|turn)$"))
    expect(page.locator("#face-error")).to_contain_text("We cannot see a face", timeout=30_000)
    expect(prompt).to_have_text("Look at the camera")
    page.clock.fast_forward(6000)
    expect(prompt).to_have_text("Look at the camera")
    assert_touch_targets(page, "kiosk face screen")
    assert_contrast(page, "kiosk face screen")
    _show_camera(camera, _frame_720p(shared_path(FACES.format("img50"))))
    _camera_sees(face_store, dark=False)

    # nobody is enrolled yet: a clear reason, a retry and the phone-digit fall-back
    page.get_by_role("button", name="Try again").click()
    page.wait_for_function("() => document.querySelector('#face-preview').naturalWidth > 0")
    expect(page.locator("#face-error")).to_contain_text("recognise", timeout=30_000)
    expect(prompt).to_have_text("Try again, or type your phone number below")
    expect(page.get_by_label("Last 4 digits of your phone")).to_be_visible()
    shot(page, "kiosk-face-refused", mask=[page.locator("#face-preview")])
    # the fall-back: the last digits of a phone no member signed up with
    page.get_by_label("Last 4 digits of your phone").fill("5678")
    page.get_by_role("button", name="Try with my number").click()
    expect(page.locator("#face-error")).to_contain_text("could not find a face-pay sign-up", timeout=30_000)

    # the shopper walks away from the face screen: warned, then the kiosk starts over and the
    # camera preview is neither shown nor fetched any more
    previews: list[str] = []
    page.on("request", lambda r: previews.append(r.url) if "face-preview" in r.url else None)
    page.clock.fast_forward("09:31")
    idle = page.get_by_role("alertdialog", name="Are you still there?")
    expect(idle).to_be_visible()
    page.clock.fast_forward(21_000)
    expect(page.get_by_role("heading", name="Scan your first item to start")).to_be_visible()
    page.clock.set_system_time(datetime.now(UTC))  # back to the box's time for the new session
    assert page.locator("#face-preview").get_attribute("src") is None
    seen = len(previews)
    page.wait_for_timeout(1500)  # the preview polled every 300 ms while it ran
    assert len(previews) == seen, previews[seen:]

    _add_water(page)
    page.get_by_role("button", name="Pay by face").click()
    expect(page.locator("#face-error")).to_contain_text("recognise", timeout=30_000)
    _enrol(face_store, "m-02", ("img47", "img48", "img8"))  # the same person as the camera's img50
    page.get_by_role("button", name="Try again").click()
    expect(page.get_by_role("heading", name="Show this code at the exit gate")).to_be_visible(timeout=30_000)
    expect(page.locator("#receipt")).to_contain_text("Paid with: face")
    assert page.locator("#face-preview").get_attribute("src") is None  # the preview is dropped
    shot(page, "kiosk-face-paid")
