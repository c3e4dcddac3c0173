"""Browser tests: the real daemon (subprocess, temp data dir, real Mosquitto) driven by Debian's
Chromium through Playwright. Every page's console is watched: any error fails the test, unless
the test names the exact message it expects (a daemon restart makes Chromium log refused
connections). Full-page screenshots go to test-artifacts/ for CI to keep.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import ROOT, DaemonProcess, Mosquitto

CHROMIUM = Path(os.environ.get("RETAIL_EDGE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = ROOT / "test-artifacts"
STAFF_USER = "it-admin"
STAFF_PASSWORD = "e2e correct horse battery"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session; a missing Chromium fails (the test command installs it)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (the README's test command does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Console:
    """Errors seen in one page: console.error, uncaught exceptions, CSP violations."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@dataclass
class Pages:
    """Opens pages in fresh browser contexts and checks their consoles at teardown."""

    browser: Any
    base_url: str
    opened: list[tuple[Any, Console]] = field(default_factory=list)

    def open(self, path: str, *, viewport: dict[str, int] | None = None, locale: str = "en-US") -> tuple[Any, Console]:
        ctx = self.browser.new_context(
            base_url=self.base_url,
            viewport=viewport or {"width": 1280, "height": 860},
            locale=locale,
            timezone_id="America/Los_Angeles",  # not the store's zone: pages must use the store's
        )
        page = ctx.new_page()
        console = Console()
        page.on(
            "console",
            lambda m: (
                console.errors.append(f"console.{m.type}: {m.text} at {m.location.get('url', '')}")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: console.errors.append(f"pageerror: {e}"))
        page.set_default_timeout(15_000)
        if path:
            page.goto(path)
        self.opened.append((page, console))
        return page, console

    def close(self) -> list[str]:
        problems: list[str] = []
        for page, console in self.opened:
            problems += [f"{page.url}: {e}" for e in console.unexpected()]
            page.context.close()
        self.opened.clear()
        return problems


def shot(page: Any, name: str, mask: list[Any] | None = None) -> Path:
    """A full-page screenshot for CI to keep; `mask` blanks regions (a face preview is never saved)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, mask=mask or [])
    return path


@dataclass
class Store:
    """A running demo-like store: daemon, broker, staff login and device tokens."""

    daemon: DaemonProcess
    broker: Mosquitto
    tokens: dict[str, str]
    config: dict[str, Any]

    @property
    def url(self) -> str:
        return self.daemon.url


HOSTILE_SCAN = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def kiosk_clip(path: Path) -> Path:
    """A kiosk camera clip that plays once per test: 10 s of empty tray (the page opens its
    session), water, crackers, a QR code carrying a hostile <script> payload, then 40 s empty."""
    if path.exists():
        return path
    import cv2
    import numpy as np
    import segno

    from edge.demo import media
    from edge.demo.gtins import GROCERY

    water, crackers = GROCERY[3], GROCERY[2]
    bg = media.background(media.SIZE, 5)
    frames = [bg] * (10 * media.FPS)
    frames += media.clip_frames([(water[0], water[1]), (crackers[0], crackers[1])], seed=5)
    qr: np.ndarray = np.array(segno.make_qr(HOSTILE_SCAN, error="m").matrix, dtype=np.uint8)
    qr = cv2.resize((1 - qr) * 255, None, fx=6, fy=6, interpolation=cv2.INTER_NEAREST)
    qr = cv2.cvtColor(cv2.copyMakeBorder(qr, 24, 24, 24, 24, cv2.BORDER_CONSTANT, value=255), cv2.COLOR_GRAY2BGR)
    frames += [media.place(bg, qr, (media.SIZE[0] - qr.shape[1]) // 2, (media.SIZE[1] - qr.shape[0]) // 2)] * 20
    frames += [bg] * (40 * media.FPS)
    media.write_clip(path, frames)
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo clips and the kiosk clip, rendered once per test session."""
    path = tmp_path_factory.mktemp("media")
    kiosk_clip(path / "kiosk-e2e.avi")
    return path


def store_config(data_dir: Path, broker: Mosquitto, media_dir: Path | None) -> dict[str, Any]:
    cameras: list[dict[str, Any]] = []
    if media_dir is not None:
        from edge.demo.media import ensure_media

        # the fitting-room demo clip, and our kiosk clip (the demo kiosk clip loops forever and
        # includes an age-restricted item, which would make the checkout test depend on timing)
        cameras = [c for c in ensure_media(media_dir).get("cameras", []) if c["role"] == "fitting_room"]
        cameras.append(
            {
                "id": "kiosk-1-cam",
                "role": "kiosk",
                "target": "kiosk-1",
                "source": str(kiosk_clip(media_dir / "kiosk-e2e.avi")),
                "fps": 15.0,
            }
        )
    return {
        "store": {"id": "e2e-store", "name": "E2E Store", "timezone": "Asia/Shanghai", "currency": "CNY"},
        "storage": {"data_dir": str(data_dir)},
        "mqtt": {"url": broker.url},
        "checkout": {"audit_share": 0.0},  # no random audits: a test that wants a rescan asks for one
        "cameras": cameras,
        "fitting": {
            "zone_escalate_after_s": {"men": 3},  # room-2 escalates fast, for the live escalation check
            "rooms": [
                {"id": "room-1", "name": "Room 1", "zone": "women"},
                {"id": "room-2", "name": "Room 2", "zone": "men"},
            ],
        },
    }


DEVICES = (("kiosk-1", "kiosk"), ("guide-1", "guide"), ("supervisor-1", "supervisor"), ("gate-1", "gate"))


def start_store(
    data_dir: Path, config: dict[str, Any], broker: Mosquitto, daemon_factory: type[DaemonProcess]
) -> Store:
    d = daemon_factory(data_dir, config=config)
    tokens = _provision(config)
    d.start()
    return Store(daemon=d, broker=broker, tokens=tokens, config=config)


@pytest.fixture
def store(tmp_path: Path, mosquitto: Mosquitto, daemon_factory: type[DaemonProcess], media_dir: Path) -> Store:
    """The daemon with camera clips, the demo catalog, two rooms, a staff user and devices."""
    data_dir = tmp_path / "data"
    return start_store(data_dir, store_config(data_dir, mosquitto, media_dir), mosquitto, daemon_factory)


def _provision(config: dict[str, Any]) -> dict[str, str]:
    """Migrate, add the staff user and devices, and seed the demo catalog, in-process (fast)."""
    from edge.access.service import AccessService
    from edge.app import prepare_storage
    from edge.config import load_settings
    from edge.demo.catalog import seed_catalog
    from edge.platform.security import SecretStore, Signer

    settings = load_settings(None, overrides=config)
    db = prepare_storage(settings)
    try:
        access = AccessService(db, Signer("session", SecretStore(settings.storage.data_dir).keyring("session")))
        access.add_user(STAFF_USER, STAFF_PASSWORD)
        tokens = {dev: access.add_device(dev, role) for dev, role in DEVICES}
    finally:
        db.dispose()
    seed_catalog(settings)
    return tokens


@contextmanager
def open_pages(browser: Any, url: str) -> Iterator[Pages]:
    """Pages on a store; every error in a browser console fails the test unless the test names it."""
    p = Pages(browser, url)
    try:
        yield p
    finally:
        problems = p.close()
    assert not problems, "errors in the browser console:\n" + "\n".join(problems)


@pytest.fixture
def pages(browser: Any, store: Store) -> Iterator[Pages]:
    with open_pages(browser, store.url) as p:
        yield p


def staff_client(store: Store) -> Any:
    """An httpx client logged in as the store-IT user (for setting up members, coupons, refunds)."""
    import httpx

    # a script on the cookie says where it comes from, as the store's own pages do (edge/api/origin.py)
    client = httpx.Client(base_url=store.url, timeout=10, headers={"Origin": store.url.rstrip("/")})
    client.post("/api/auth/login", json={"username": STAFF_USER, "password": STAFF_PASSWORD}).raise_for_status()
    return client


def _secret_values(text: str) -> list[str]:
    """The secret material in a stored secret: the text itself, or a key ring's key strings."""
    try:
        data = json.loads(text)
    except ValueError:
        return [text]
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str) and len(v) >= 16:
            found.append(v)

    walk(data)
    return found


def assert_secrets_masked(page: Any, store: Store) -> None:
    """On the Configuration tab: every stored secret is listed by name with its value shown as
    ***, and no secret material (a secret's text, a key ring's keys) appears anywhere in clear."""
    from playwright.sync_api import expect

    from edge.platform.security import SecretStore

    secrets = SecretStore(Path(store.config["storage"]["data_dir"]))
    names = secrets.names()
    assert names, "the store has no secrets to mask"
    section = page.locator("#config-tree > dl > dt", has_text=re.compile(r"^secrets$")).locator(
        "xpath=following-sibling::dd[1]"
    )
    for name in names:
        value = section.locator("dt", has_text=re.compile(f"^{re.escape(name)}$")).locator(
            "xpath=following-sibling::dd[1]"
        )
        expect(value).to_have_text("***")
    tree = page.locator("#config-tree").inner_text()
    material = [v for name in names for v in _secret_values(secrets.get(name) or "")]
    assert material, "no secret material found to look for"
    assert not [v for v in material if v in tree], "a secret is shown in clear"


def login_dashboard(page: Any) -> None:
    page.goto("/dashboard")
    page.get_by_label("User name").fill(STAFF_USER)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("tab", name="Overview").wait_for()
