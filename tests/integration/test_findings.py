"""What an adversarial run against the live daemon found, one test per finding (each failed before
its fix): money that left twice, text the cloud refuses, out-of-range numbers, ledger lines that
lied, and tokens with more than one spelling."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from edge.checkout.payments import PaymentFailed
from edge.checkout.service import CheckoutServices
from edge.platform.codes import PASS_PREFIX
from tests.integration.test_checkout_money import Faults, flaky, money_store, network, paid_order, refund


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with money_store(Path(tmp_path_factory.mktemp("findings")) / "data") as st:
        yield st


# --- 1. a refund pays out at most what was sold, whatever the request's shape ---------------------
def test_f01_a_line_listed_three_times_refunds_at_most_its_units(store: dict[str, Any]) -> None:
    oid, key = paid_order(store, qty=1)
    thrice = {"lines": [{"line_no": 1, "qty": 1}] * 3, "reason": "listed three times"}
    r = refund(store, oid, thrice)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "bad_refund_qty"), r.text
    assert network(store).query(key).refunded_minor == 0, "the acquirer moved money for units never sold"
    oid3, key3 = paid_order(store, qty=3)
    r = refund(store, oid3, {"lines": [{"line_no": 1, "qty": 1}] * 2})
    assert r.status_code == 200, r.text
    assert r.json()["lines"] == [{"line_no": 1, "qty": 2, "amount_minor": 2 * 2990}]  # summed into one line
    assert network(store).query(key3).refunded_minor == 2 * 2990


def test_f01_a_hundred_concurrent_refunds_of_one_unit_pay_out_only_what_was_sold(store: dict[str, Any]) -> None:
    oid, key = paid_order(store, qty=3)
    body = {"lines": [{"line_no": 1, "qty": 1}], "reason": "rush"}
    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(lambda _: refund(store, oid, body).status_code, range(100)))
    assert codes.count(200) >= 1 and set(codes) <= {200, 400, 409}, codes
    assert network(store).query(key).refunded_minor == 3 * 2990, "more went back than three teas"
    receipt = store["client"].get(f"/api/orders/{oid}/receipt", headers=store["kiosk"]).json()
    assert receipt["refunded_minor"] == 3 * 2990


# --- 7. one text policy: control characters never reach the database or the outbox --------------
def test_f07_control_characters_in_staff_and_device_text_are_refused_at_the_edge(store: dict[str, Any]) -> None:
    c, staff = store["client"], store["staff"]
    coupon = {"kind": "fixed", "value": 100, "name": "Spring\x00sale", "valid_to": "2027-01-01T00:00:00"}
    r = c.post("/api/checkout/coupons", json=coupon, headers=staff)
    assert r.status_code == 422 and "control character" in r.text, r.text
    r = c.post("/api/kiosk/sessions", json={"kiosk_id": "kiosk\x1b[2J"}, headers=staff)
    assert r.status_code == 422, r.text
    oid, _key = paid_order(store, qty=1)
    r = c.post(f"/api/checkout/orders/{oid}/void", json={"reason": "bad\x07bell"}, headers=staff)
    assert r.status_code == 422, r.text
    bidi = c.post("/api/checkout/coupons", json={**coupon, "name": "Sale \u202eevil"}, headers=staff)
    assert bidi.status_code == 201, bidi.text  # bidi controls are stripped, not refused
    assert "\u202e" not in c.post("/api/checkout/coupons", json={**coupon, "name": "x\u202ey"}, headers=staff).text


# --- 10. out-of-range values are a typed 422, never a 500 ------------------------------------------
def test_f10_huge_ids_offsets_and_far_dates_are_refused_with_a_code(store: dict[str, Any]) -> None:
    c, staff, kiosk = store["client"], store["staff"], store["kiosk"]
    sid = c.post("/api/kiosk/sessions", json={}, headers=kiosk).json()["session_id"]
    for method in ("patch", "delete"):
        r = c.request(method.upper(), f"/api/kiosk/sessions/{sid}/lines/{2**63}", json={"qty": 1}, headers=kiosk)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", (method, r.text)
    r = c.get(f"/api/sync/quarantine?offset={2**63}", headers=staff)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text
    far = {"kind": "fixed", "value": 100, "valid_to": "9999-12-31T23:59:59-12:00"}
    r = c.post("/api/checkout/coupons", json=far, headers=staff)
    assert r.status_code == 422 and "ten years" in r.text, r.text


# --- 12. the dashboard's transaction list says what really happened ------------------------------
def test_f12_a_failed_refund_is_not_listed_as_money_back_and_a_void_shows_once(store: dict[str, Any]) -> None:
    c, staff = store["client"], store["staff"]
    oid, _key = paid_order(store, qty=1)
    with flaky(store["daemon"], Faults(reverse_before=PaymentFailed("refused", code="refund_refused"))):
        assert refund(store, oid, {}).status_code >= 400
    rows = [r for r in c.get(f"/api/admin/transactions?q={oid}", headers=staff).json() if r["order_id"] == oid]
    assert sorted(r["kind"] for r in rows) == ["order", "refund_failed"]
    assert next(r for r in rows if r["kind"] == "refund_failed")["amount_minor"] == 0
    void_oid, _key = paid_order(store, qty=1)
    assert c.post(f"/api/checkout/orders/{void_oid}/void", json={"reason": "test"}, headers=staff).status_code == 200
    rows = [r for r in c.get(f"/api/admin/transactions?q={void_oid}", headers=staff).json()]
    assert [r["kind"] for r in rows if r["order_id"] == void_oid] == ["void"]


# --- 13. a signed token has exactly one spelling ----------------------------------------------------
def test_f13_padding_or_slack_bits_on_a_pass_are_refused(store: dict[str, Any]) -> None:
    oid, _key = paid_order(store, qty=1)
    svc = store["daemon"].ctx.own(CheckoutServices)
    token = svc.pass_token(oid)
    assert token.startswith(PASS_PREFIX)
    for variant in (token + "==", token + "=", token[:-1] + chr(ord(token[-1]) ^ 1)):
        r = store["client"].post("/api/gate/verify", json={"text": variant}, headers=store["gate"])
        assert r.status_code >= 400 and r.json()["error"]["code"] in ("pass_malformed", "pass_forged"), (
            variant,
            r.text,
        )
    r = store["client"].post("/api/gate/verify", json={"text": token}, headers=store["gate"])
    assert r.status_code == 200 and r.json()["open"] is True
