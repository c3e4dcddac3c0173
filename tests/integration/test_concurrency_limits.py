"""Single-use rules and rate limits under 100 concurrent requests, not only in sequence: an exit
pass opens the gate once, a single-use coupon is redeemed by one sale and a per-member coupon at
most its uses, one phone keeps at most its open calls and its calls a minute, one address its
calls a minute, one kiosk its face attempts a minute, and a member's face-pay locks after exactly
its failures. (Refunds and login have theirs in test_findings.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from edge.app import Daemon, prepare_storage
from edge.checkout.models import CouponRedemption
from edge.checkout.service import CheckoutServices
from edge.facepay.limits import PENDING
from edge.facepay.models import FaceAttempt
from edge.fitting.service import FittingService
from tests.conftest import shared_path
from tests.integration.test_checkout_money import TEA, money_store, network, paid_order
from tests.integration.test_face_api import b64, member_code, wait_models
from tests.integration.test_fitting_api import ROOMS, phone_headers
from tests.support.inproc import device_headers, running_app, settings_for, staff_headers

N = 100


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with money_store(Path(tmp_path_factory.mktemp("concurrency")) / "data", {"fitting": ROOMS}) as st:
        yield st


def _all_at_once(call: Any) -> list[Any]:
    with ThreadPoolExecutor(max_workers=32) as pool:
        return list(pool.map(lambda _i: call(), range(N)))


def _carts_with(store: dict[str, Any], prefix: str, coupon: str, member_phone: str | None = None) -> list[Any]:
    """N carts holding TEA and the coupon (and the member), each at a kiosk of its own: a kiosk
    has one open cart at a time."""
    c, carts = store["client"], []
    for i in range(N):
        k = device_headers(store["daemon"], f"{prefix}{i}", "kiosk")
        sid = c.post("/api/kiosk/sessions", json={}, headers=k).json()["session_id"]
        assert c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=k).status_code == 201
        if member_phone is not None:
            r = c.post(f"/api/kiosk/sessions/{sid}/member", json={"phone": member_phone}, headers=k)
            assert r.status_code == 200, r.text
        r = c.post(f"/api/kiosk/sessions/{sid}/coupons", json={"code": coupon}, headers=k)
        assert r.status_code == 200, r.text
        carts.append((sid, k))
    return carts


def _pay_all_at_once(c: TestClient, carts: list[Any]) -> list[Any]:
    it = iter(carts)

    def pay() -> Any:
        sid, k = next(it)
        return c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=k)

    return _all_at_once(pay)


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
    carts = _carts_with(store, "kiosk-c", code)
    answers = _pay_all_at_once(c, carts)
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


def _no_5xx(answers: list[Any], allowed: set[int]) -> None:
    assert all(r.status_code < 500 for r in answers), [r.text for r in answers if r.status_code >= 500][:3]
    assert {r.status_code for r in answers} <= allowed, {r.status_code for r in answers}


@pytest.mark.parametrize("who", ["phone", "address"])
def test_calls_a_minute_hold_under_100_concurrent_posts(tmp_path: Path, who: str) -> None:
    """Only the per-minute limit under test binds (the active-call limits are lifted)."""
    limit = 7
    fitting = {**ROOMS, "active_calls_per_phone": N, "active_calls_per_address": N, "active_calls_per_room": N}
    fitting |= {"calls_per_phone_per_minute": limit if who == "phone" else N}
    fitting |= {"calls_per_address_per_minute": limit if who == "address" else N}
    with running_app(tmp_path / "data", {"fitting": fitting}) as (c, daemon):
        room = daemon.ctx.own(FittingService).codes.token("room-1")
        one = phone_headers(c, room)
        phones = iter([one] * N if who == "phone" else [phone_headers(c, room) for _ in range(N)])
        notes = iter(range(N))
        url = f"/api/fitting/rooms/{room}/calls"
        answers = _all_at_once(
            lambda: c.post(url, json={"kind": "help", "note": f"n{next(notes)}"}, headers=next(phones))
        )
    _no_5xx(answers, {201, 429})
    assert sum(r.status_code == 201 for r in answers) == limit
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 429} == {"too_many_calls"}


def test_a_per_member_coupon_is_used_at_most_its_uses_by_100_concurrent_checkouts(store: dict[str, Any]) -> None:
    c, staff, daemon = store["client"], store["staff"], store["daemon"]
    valid_to = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    coupon = {"kind": "fixed", "value": 50, "name": "Twice each", "valid_to": valid_to, "per_member_limit": 2}
    issued = c.post("/api/checkout/coupons", headers=staff, json=coupon)
    assert issued.status_code == 201, issued.text
    code = issued.json()["codes"][0]
    member = c.post("/api/checkout/members", headers=staff, json={"name": "Ada", "phone": "13800000042"})
    assert member.status_code == 201, member.text
    answers = _pay_all_at_once(c, _carts_with(store, "kiosk-m", code, member_phone="13800000042"))
    _no_5xx(answers, {200, 409})
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} <= {"coupon_used"}
    with daemon.ctx.store.read() as s:
        uses = s.exec(select(CouponRedemption).where(CouponRedemption.member_id == member.json()["member_id"])).all()
    assert 1 <= len(uses) <= 2, f"a coupon for 2 uses per member was used {len(uses)} times"
    assert sum(r.status_code == 200 for r in answers) == len(uses)


@pytest.fixture(scope="module")
def face(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Daemon]]:
    limits = {"attempts_per_kiosk_per_min": 3, "attempts_per_member_per_hour": 1000, "lockout_failures": 5}
    data = Path(tmp_path_factory.mktemp("face-limits")) / "data"
    with running_app(data, {"model_dir": str(shared_path("models")), "facepay": limits}) as pair:
        assert wait_models(pair[0])["status"] == "ok"
        yield pair


def test_one_kiosk_runs_at_most_its_face_attempts_a_minute_under_100_concurrent_verifies(
    face: tuple[TestClient, Daemon],
) -> None:
    client, daemon = face
    kiosk = device_headers(daemon, "kiosk-solo", "kiosk")
    body = {"images_b64": [b64("img9")]}
    answers = _all_at_once(lambda: client.post("/api/face/verify", json=body, headers=kiosk))
    _no_5xx(answers, {200, 429})
    evaluated = sum(r.status_code == 200 for r in answers)
    assert 1 <= evaluated <= 3, f"{evaluated} face attempts ran at one kiosk in a minute (limit 3)"
    refused = {r.json()["error"]["code"] for r in answers if r.status_code == 429}
    assert refused <= {"face_rate_limited", "face_attempt_in_progress"}, refused


def test_a_members_face_pay_locks_after_exactly_its_failures_under_100_concurrent_verifies(
    face: tuple[TestClient, Daemon],
) -> None:
    """100 kiosks claim one member with someone else's face: the 6th failure is never evaluated."""
    client, daemon = face
    body = {"member_id": "m-06", "consent_version": "v1", "consent": True}
    enrolled = client.post("/api/face/enroll", headers=staff_headers(daemon),
                           json={**body, "images_b64": [b64(n) for n in ("img29", "img30", "img31")]})  # fmt: skip
    assert enrolled.status_code == 201, enrolled.text
    claim = {"member_hint": member_code(daemon, "m-06"), "images_b64": [b64("img9")]}
    kiosks = iter([device_headers(daemon, f"kiosk-v{i}", "kiosk") for i in range(N + 10)])
    answers = _all_at_once(lambda: client.post("/api/face/verify", json=claim, headers=next(kiosks)))
    _no_5xx(answers, {200, 429})
    failures = [r for r in answers if r.status_code == 200]
    assert all(r.json()["decision"] == "no_match" for r in failures)
    while True:  # then one at a time, as a patient impostor would, until face-pay is locked
        r = client.post("/api/face/verify", json=claim, headers=next(kiosks))
        if r.status_code == 429 and r.json()["error"]["code"] == "face_locked_out":
            break
        assert r.status_code == 200 and r.json()["decision"] == "no_match", r.text
        failures.append(r)
    assert len(failures) == 5, f"{len(failures)} failed attempts were evaluated before the lockout (limit 5)"


def test_an_attempt_cut_short_by_a_crash_does_not_block_the_kiosk_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = prepare_storage(settings_for(data))
    with db.write() as s:  # what a kill -9 in the middle of an attempt leaves behind
        s.add(FaceAttempt(kiosk_id="kiosk-z", mode="-", decision=PENDING))
    db.dispose()
    with running_app(data, {"model_dir": str(shared_path("models"))}) as (client, daemon):
        assert wait_models(client)["status"] == "ok"
        kiosk = device_headers(daemon, "kiosk-z", "kiosk")
        r = client.post("/api/face/verify", json={"images_b64": [b64("img9")]}, headers=kiosk)
        assert r.status_code == 200, r.text
        with daemon.ctx.store.read() as s:
            assert s.exec(select(FaceAttempt).where(FaceAttempt.decision == PENDING)).all() == []


def test_a_member_gets_at_most_their_face_attempts_an_hour_under_100_concurrent_verifies(tmp_path: Path) -> None:
    """The member's own face from 100 kiosks at once: at most `attempts_per_member_per_hour` run."""
    limits = {"attempts_per_member_per_hour": 3, "lockout_failures": 1000}
    with running_app(tmp_path / "data", {"model_dir": str(shared_path("models")), "facepay": limits}) as (c, daemon):
        assert wait_models(c)["status"] == "ok"
        body = {"member_id": "m-06", "consent_version": "v1", "consent": True}
        enrolled = c.post("/api/face/enroll", headers=staff_headers(daemon),
                          json={**body, "images_b64": [b64(n) for n in ("img29", "img30", "img31")]})  # fmt: skip
        assert enrolled.status_code == 201, enrolled.text
        claim = {"member_hint": member_code(daemon, "m-06"), "images_b64": [b64("img30")]}
        kiosks = iter([device_headers(daemon, f"kiosk-h{i}", "kiosk") for i in range(N)])
        answers = _all_at_once(lambda: c.post("/api/face/verify", json=claim, headers=next(kiosks)))
    _no_5xx(answers, {200, 429})
    evaluated = [r for r in answers if r.status_code == 200]
    assert 1 <= len(evaluated) <= 3, f"{len(evaluated)} attempts ran for one member (limit 3 an hour)"
    assert all(r.json()["decision"] == "match" for r in evaluated)
