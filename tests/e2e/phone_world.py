"""The phone world for the scan-and-go browser tests (tests/e2e/test_phone*.py): camera clips
rendered as Y4M files, one daemon per module on the gateway simulators, phones as fresh browser
contexts in a Chromium launched with a clip as its rear camera."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import segno

from edge.demo import media
from edge.demo.gtins import GROCERY
from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    STAFF_PASSWORD,
    STAFF_USER,
    Console,
    _provision,
    store_config,
)
from tests.support.rails import Gateways, gateways
from tests.support.services import DaemonProcess, Mosquitto, free_port

TEA, CRACKERS, WATER, CHOCOLATE = GROCERY[0], GROCERY[2], GROCERY[3], GROCERY[4]
HOSTILE_QR = "<img src=x onerror=alert(1)>"
HOSTILE_TYPED = '<img src=y onerror="window.__pwned=1">'
PHONE_VIEW = {"width": 390, "height": 844}
SIZE, FPS = (640, 480), 5
CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
OFFLINE = r"ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_RESET|ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|Failed to fetch"


# --- the camera clips ---------------------------------------------------------------------------
def write_y4m(path: Path, frames: list[np.ndarray]) -> Path:
    """A YUV4MPEG2 clip (I420) that Chromium's fake camera plays in a loop from its first frame."""
    w, h = SIZE
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def qr_art(text: str) -> np.ndarray:
    modules = np.array(segno.make_qr(text, error="m").matrix, dtype=np.uint8)
    big = cv2.resize((1 - modules) * 255, None, fx=6, fy=6, interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor(cv2.copyMakeBorder(big, 24, 24, 24, 24, cv2.BORDER_CONSTANT, value=255), cv2.COLOR_GRAY2BGR)


def render_clip(path: Path, script: list[tuple[np.ndarray | None, float]], seed: int) -> Path:
    """Each (art, seconds): the art held in the middle of the tray with a little hand jitter, or
    (None) the empty tray. Ends with a long empty tail so a loop does not re-add within a test."""
    rng = random.Random(seed)
    bg = media.background(SIZE, seed)
    frames: list[np.ndarray] = []
    for art, seconds in script:
        for _ in range(round(seconds * FPS)):
            if art is None:
                frames.append(bg)
                continue
            x = (SIZE[0] - art.shape[1]) // 2 + rng.randint(-3, 3)
            y = (SIZE[1] - art.shape[0]) // 2 + rng.randint(-2, 2)
            frames.append(media.place(bg, art, x, y))
    return write_y4m(path, frames)


def pack(item: tuple[str, str, int, str], colour: tuple[int, int, int]) -> np.ndarray:
    return media.product_pack(item[0], item[1], colour)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("phone-clips")
    tea, crackers, water = pack(TEA, (40, 90, 170)), pack(CRACKERS, (60, 140, 60)), pack(WATER, (150, 70, 40))
    return {
        # 1 s of empty tray (the page opens the camera), then each pack 1.5 s with 1 s of tray between
        "three": render_clip(
            d / "three.y4m",
            [(None, 1), (tea, 1.5), (None, 1), (crackers, 1.5), (None, 1), (water, 1.5), (None, 20)],
            seed=11,
        ),
        # tea, then 5 s of tray (the test goes offline), crackers and water while offline
        "gap": render_clip(
            d / "gap.y4m",
            [(None, 1), (tea, 1.5), (None, 5), (crackers, 1.5), (None, 1), (water, 1.5), (None, 20)],
            seed=12,
        ),
        "hostile": render_clip(d / "hostile.y4m", [(None, 1), (qr_art(HOSTILE_QR), 1.5), (None, 15)], seed=13),
    }


GAP_CLIP_SHOWN_ALL_S = 12.5  # the "gap" clip has shown crackers and water by then (1+1.5+5+1.5+1+1.5 = 11.5)


# --- the store ----------------------------------------------------------------------------------
@dataclass
class Shop:
    daemon: DaemonProcess
    gw: Gateways
    tokens: dict[str, str]
    broker: Mosquitto
    config: dict[str, Any]

    @property
    def url(self) -> str:
        return self.daemon.url


@contextmanager
def open_shop(root: Path, extra: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Iterator[Shop]:
    """The daemon on the payment-gateway simulators (checkout in production mode: the phone pays in
    Alipay or WeChat Pay), the demo catalog, a staff user and a gate device; no cameras. `extra`
    adds config sections (a cloud to sync with), `env` the daemon's secrets."""
    data_dir = root / "data"
    data_dir.mkdir()
    broker = Mosquitto(root / "mosquitto")
    broker.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        with gateways(data_dir, inapp_wait_s=120.0, poll_interval_s=0.5) as gw:
            rails = dict(gw.settings)
            for rail in ("alipay", "wechatpay"):
                rails[rail] = {**rails[rail], "notify_url": f"{base}/api/payments/{rail}/notify"}
            config = store_config(data_dir, broker, None)
            config["checkout"] = {"mode": "production", "qr_acquirer": "rails", "rails": rails}
            config.update(extra or {})
            tokens = _provision(config)
            daemon = DaemonProcess(data_dir, config=config, env=env, port=port)
            daemon.start()
            try:
                yield Shop(daemon, gw, tokens, broker, config)
            finally:
                daemon.stop()
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    with open_shop(tmp_path_factory.mktemp("phone-shop")) as s:
        yield s


@contextmanager
def staff(shop: Shop) -> Iterator[httpx.Client]:
    """Store IT, logged in (a script on the cookie says where it comes from, as the pages do)."""
    with httpx.Client(base_url=shop.url, timeout=10, headers={"Origin": shop.url}) as client:
        client.post("/api/auth/login", json={"username": STAFF_USER, "password": STAFF_PASSWORD}).raise_for_status()
        yield client


def entry_code(shop: Shop) -> str:
    """Today's entry code, as the screen at the entrance shows it (staff API)."""
    with staff(shop) as c:
        out = c.get("/api/admin/phone/entry").json()
    assert out["url"].endswith(f"/go/{out['code']}")
    return str(out["code"])


# --- phones -------------------------------------------------------------------------------------
@dataclass
class Phones:
    """Phone pages (each its own context: its own cookie and cart), consoles and dialogs watched."""

    base_url: str
    opened: list[tuple[Any, Console, list[str]]] = field(default_factory=list)

    def open(self, browser: Any, path: str) -> tuple[Any, Console, list[str]]:
        ctx = browser.new_context(
            base_url=self.base_url,
            viewport=PHONE_VIEW,
            is_mobile=True,
            has_touch=True,
            permissions=["camera"],
            locale="en-US",
            timezone_id="America/Los_Angeles",  # not the store's zone
        )
        page = ctx.new_page()
        console, dialogs = Console(), []

        def on_dialog(dialog: Any) -> None:  # an alert() from injected text would land here
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("console", lambda m: console.errors.append(f"console.error: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: console.errors.append(f"pageerror: {e}"))
        page.on("dialog", on_dialog)
        page.set_default_timeout(15_000)
        if path:
            page.goto(path)
        self.opened.append((page, console, dialogs))
        return page, console, dialogs

    def close(self) -> list[str]:
        problems: list[str] = []
        for page, console, dialogs in self.opened:
            problems += [f"{page.url}: {e}" for e in console.unexpected()]
            problems += [f"{page.url}: a dialog opened: {m}" for m in dialogs]
            page.context.close()
        self.opened.clear()
        return problems


@pytest.fixture
def phones(shop: Shop) -> Iterator[Phones]:
    p = Phones(shop.url)
    try:
        yield p
    finally:
        problems = p.close()
    assert not problems, "errors in the phone's console:\n" + "\n".join(problems)


@contextmanager
def camera_browser(browser: Any, clip: Path) -> Iterator[Any]:
    """A Chromium whose camera plays `clip` (the file is a launch argument: one launch per clip),
    through the session's Playwright."""
    b = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_ARGS, *CAMERA_ARGS, f"--use-file-for-fake-video-capture={clip}"],
    )
    try:
        yield b
    finally:
        b.close()


def state(page: Any) -> dict[str, Any]:
    """GET /api/go/state with the phone's own cookie (the context's request shares its cookies)."""
    r = page.request.get("/api/go/state")
    assert r.ok, r.text()
    out: dict[str, Any] = r.json()
    return out


def quantities(cart: dict[str, Any]) -> dict[str, int]:
    return {str(line["gtin"])[-13:]: int(line["qty"]) for line in cart["lines"]}


def line(page: Any, item: tuple[str, str, int, str]) -> Any:
    return page.locator(f"#lines li.line[data-gtin$='{item[0]}']")


def pass_ids(text: str) -> tuple[str, str]:
    """(order id, pass id) named in an exit pass's signed claims (RX1:<kid>.<claims>.<mac>)."""
    claims = json.loads(base64.urlsafe_b64decode(text.split(".")[1] + "=="))
    return str(claims["o"]), str(claims["p"])


# --- the tests ----------------------------------------------------------------------------------
