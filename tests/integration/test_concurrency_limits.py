"""Single-use rules and rate limits under 100 concurrent requests, not only in sequence: an exit
pass opens the gate once, a single-use coupon is redeemed by one sale, one phone keeps at most
its open calls. (Refunds and login have theirs in test_findings.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from edge.checkout.models import CouponRedemption
from edge.checkout.service import CheckoutServices
from edge.fitting.service import FittingService
from tests.integration.test_checkout_money import TEA, money_store, network, paid_order
from tests.integration.test_fitting_api import ROOMS, phone_headers
from tests.support.inproc import device_headers

N = 100


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with money_store(Path(tmp_path_factory.mktemp("concurrency")) / "data", {"fitting": ROOMS}) as st:
        yield st


def _all_at_once(call: Any) -> list[Any]:
    with ThreadPoolExecutor(max_workers=32) as pool:
        return list(pool.map(lambda _i: call(), range(N)))


def test_an_exit_pass_opens_the_gate_once_under_100_concurrent_scans(store: dict[str, Any]) -> None:
    oid, _key = paid_order(store, qty=1)
    token = store["daemon"].ctx.own(CheckoutServices).pass_token(oid)
    c, gate = store["client"], store["gate"]
    answers = _all_at_once(lambda: c.post("/api/gate/verify", json={"text": token}, headers=gate))
    assert all(r.status_code < 500 for r in answers), [r.text for r in answers if r.status_code >= 500][:3]
    opened = [r for r in answers if r.status_code == 200 and r.json().get("open") is True]
    assert len(opened) == 1, f"the gate opened {len(opened)} times for one pass"


def test_a_single_use_coupon_is_redeemed_by_one_of_100_concurrent_checkouts(store: dict[str, Any]) -> None:
    c, staff = store["client"], store["staff"]
    valid_to = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    issued = c.post("/api/checkout/coupons", headers=staff,
                    json={"kind": "fixed", "value": 100, "name": "One use", "valid_to": valid_to})  # fmt: skip
    assert issued.status_code == 201, issued.text
    code = issued.json()["codes"][0]
    carts = []  # one kiosk per cart: a kiosk has one open cart at a time
    for i in range(N):
        k = device_headers(store["daemon"], f"kiosk-c{i}", "kiosk")
        sid = c.post("/api/kiosk/sessions", json={}, headers=k).json()["session_id"]
        assert c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=k).status_code == 201
        r = c.post(f"/api/kiosk/sessions/{sid}/coupons", json={"code": code}, headers=k)
        assert r.status_code == 200, r.text
        carts.append((sid, k))
    it = iter(carts)

    def pay() -> Any:
        sid, k = next(it)
        return c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=k)

    answers = _all_at_once(pay)
    assert all(r.status_code < 500 for r in answers), [r.text for r in answers if r.status_code >= 500][:3]
    paid = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code == 409 and r.json()["error"]["code"] == "coupon_used"]
    assert (len(paid), len(refused)) == (1, N - 1)
    with store["daemon"].ctx.store.read() as s:
        assert len(s.exec(select(CouponRedemption)).all()) == 1
    # nothing was charged for the refused carts: no hold is left at the network
    held = [ch for sid, _k in carts for ch in network(store).charges(sid) if ch["status"] == "authorized"]
    assert len(held) <= 1


def test_one_phone_keeps_at_most_its_open_calls_under_100_concurrent_posts(store: dict[str, Any]) -> None:
    c, daemon = store["client"], store["daemon"]
    room = daemon.ctx.own(FittingService).codes.token("room-2")
    phone = phone_headers(c, room)
    url = f"/api/fitting/rooms/{room}/calls"
    notes = iter(range(N))  # distinct requests (the same request twice is merged into one call)
    answers = _all_at_once(lambda: c.post(url, json={"kind": "help", "note": f"need {next(notes)}"}, headers=phone))
    assert all(r.status_code < 500 for r in answers), [r.text for r in answers if r.status_code >= 500][:3]
    assert all(r.status_code in (200, 201, 429) for r in answers), {r.status_code for r in answers}
    opened = {r.json()["call"]["id"] for r in answers if r.status_code in (200, 201)}  # 200: merged into one
    limit = daemon.settings.fitting.active_calls_per_phone
    assert 1 <= len(opened) <= limit, f"{len(opened)} calls open for one phone (limit {limit})"
    assert any(r.status_code == 429 for r in answers), "100 posts from one phone were never limited"
