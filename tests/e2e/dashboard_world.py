"""The dashboard world for the staff-action browser tests (tests/e2e/test_dashboard_actions.py,
test_dashboard_admin.py): stores with and without the payment rails, and what the tests read back
(receipts, audit rows, outbox events, QR codes, layout at 390 px)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.demo.gtins import GROCERY
from tests.e2e.conftest import (
    Pages,
    Store,
    open_pages,
    start_store,
    store_config,
)
from tests.support.rails import Gateways, gateways, wallet_code
from tests.support.services import DaemonProcess, Mosquitto
from tests.support.waits import wait_for

TEA, WATER = GROCERY[0], GROCERY[3]  # (gtin, name, price, ...)
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def rail_store(
    tmp_path: Path, mosquitto: Mosquitto, daemon_factory: type[DaemonProcess]
) -> Iterator[tuple[Store, Gateways]]:
    """No cameras; checkout in production mode on the payment-gateway simulators."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with gateways(data_dir) as gw:
        config = store_config(data_dir, mosquitto, None)
        config["checkout"] = {"mode": "production", "qr_acquirer": "rails", "rails": gw.settings}
        yield start_store(data_dir, config, mosquitto, daemon_factory), gw


@pytest.fixture
def plain_store(tmp_path: Path, mosquitto: Mosquitto, daemon_factory: type[DaemonProcess]) -> Store:
    data_dir = tmp_path / "data"
    return start_store(data_dir, store_config(data_dir, mosquitto, None), mosquitto, daemon_factory)


@contextmanager
def browser_pages(browser: Any, store: Store) -> Iterator[Pages]:
    """Pages on this store; every console error fails the test unless the test names it."""
    with open_pages(browser, store.url) as p:
        yield p


# --- helpers ----------------------------------------------------------------------------------
def sale(store: Store, lines: list[tuple[str, int]]) -> tuple[str, str]:
    """A kiosk sale paid with an Alipay payment code: (session id, order id)."""
    kiosk = httpx.Client(base_url=store.url, timeout=15, headers={"Authorization": f"Bearer {store.tokens['kiosk-1']}"})
    sid = kiosk.post("/api/kiosk/sessions", json={"resume": False}).json()["session_id"]
    for code, qty in lines:
        assert kiosk.post(f"/api/kiosk/sessions/{sid}/items", json={"code": code, "qty": qty}).status_code == 201
    out = kiosk.post(
        f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "qr", "payment_code": wallet_code("alipay")}
    )
    assert out.status_code == 200, out.text
    return str(sid), str(out.json()["order_id"])


def receipt(staff: httpx.Client, order_id: str) -> dict[str, Any]:
    r = staff.get(f"/api/orders/{order_id}/receipt")
    assert r.status_code == 200, r.text
    return dict(r.json())


def wait_captured(staff: httpx.Client, order_id: str) -> None:
    wait_for(lambda: receipt(staff, order_id)["payment"], 20, f"order {order_id} captured on the rail",
             until=lambda p: p and p["status"] == "captured")  # fmt: skip


def rows(store: Store, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(Path(store.config["storage"]["data_dir"]) / "edge.db") as conn:
        return list(conn.execute(sql, args))


def audit(store: Store, action: str, subject: str) -> list[tuple[str, dict[str, Any]]]:
    found = rows(
        store, "SELECT actor, detail FROM audit_event WHERE action = ? AND subject = ? ORDER BY ts", action, subject
    )
    return [(actor, json.loads(detail)) for actor, detail in found]


def outbox(store: Store, kind: str, order_id: str) -> list[dict[str, Any]]:
    found = [
        json.loads(p) for (p,) in rows(store, "SELECT payload FROM outbox_event WHERE kind = ? ORDER BY seq", kind)
    ]
    return [p for p in found if p.get("order_id") == order_id]


WIDER_JS = """(w) => [...document.querySelectorAll('body *')].filter((e) => {
  const r = e.getBoundingClientRect();
  return r.width > 0 && r.right > w + 0.5 && !(e.parentElement && e.parentElement.closest('.table-scroll'));
}).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}: ${Math.round(e.getBoundingClientRect().right)}`)"""


def no_sideways_scroll(page: Any, width: int) -> None:
    """Nothing but a table (which scrolls inside its own box) is wider than the screen."""
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width, page.evaluate(WIDER_JS, width)


def fits(page: Any, locator: Any, width: int) -> None:
    box = locator.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, f"not within {width} px: {box}"
