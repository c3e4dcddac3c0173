# ruff: noqa: F811 (the phone shop fixture is imported from test_phone_api and used as an argument)
"""E-receipts and a guide's code on the shopper's phone: a member proven by their member code
sees their receipts from this store box (a typed phone number or another phone does not), and a
guide's code the phone's camera reads credits that guide for the sale."""

from __future__ import annotations

import uuid
from typing import Any

from edge.checkout.service import CheckoutServices
from tests.integration.test_phone_api import MILK, TEA, phone, qr_frame, shop  # noqa: F401 (fixture)
from tests.support.inproc import device_headers

PHONE_NUMBER = "13700001234"


def _member(shop: dict[str, Any]) -> tuple[str, str]:
    """A member created by staff, and their signed member code."""
    r = shop["c"].post("/api/checkout/members", json={"phone": PHONE_NUMBER, "name": "Mei"}, headers=shop["staff"])
    assert r.status_code == 201, r.text
    member_id = str(r.json()["member_id"])
    return member_id, shop["d"].ctx.own(CheckoutServices).sessions.codes.member_code(member_id)


def _buy(shop: dict[str, Any], h: dict[str, str], sid: str, code: str) -> str:
    c = shop["c"]
    assert c.post(f"/api/go/carts/{sid}/member", json={"code": code}, headers=h).status_code == 200
    for gtin in (TEA, MILK):
        r = c.post(f"/api/go/carts/{sid}/items", json={"code": gtin, "scan_id": uuid.uuid4().hex}, headers=h)
        assert r.status_code == 201, r.text
    r = c.post(f"/api/go/carts/{sid}/pay", json={"method": "sandbox"}, headers=h)
    assert r.status_code == 201, r.text
    return str(r.json()["order"]["order_id"])


def test_a_member_sees_their_receipts_on_the_phone_and_nobody_else_does(shop: dict[str, Any]) -> None:
    c = shop["c"]
    _member_id, code = _member(shop)
    h, sid = phone(shop)
    order = _buy(shop, h, sid, code)

    sid2 = c.get("/api/go/state", headers=h).json()["cart"]["session_id"]  # the next visit's cart
    r = c.get(f"/api/go/carts/{sid2}/receipts", headers=h)
    assert r.status_code == 403 and r.json()["error"]["code"] == "member_code_required"
    assert c.post(f"/api/go/carts/{sid2}/member", json={"phone": PHONE_NUMBER}, headers=h).status_code == 200
    r = c.get(f"/api/go/carts/{sid2}/receipts", headers=h)
    assert r.status_code == 403, "a typed phone number proves nothing: no receipts"
    assert c.post(f"/api/go/carts/{sid2}/member", json={"code": code}, headers=h).status_code == 200
    receipts = c.get(f"/api/go/carts/{sid2}/receipts", headers=h).json()
    assert [x["order_id"] for x in receipts] == [order]
    assert sorted(line["gtin"][-13:] for line in receipts[0]["lines"]) == sorted((TEA, MILK))
    assert receipts[0]["total_minor"] > 0 and receipts[0]["receipt_number"]

    other, _ = phone(shop)
    r = c.get(f"/api/go/carts/{sid2}/receipts", headers=other)
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_phone"


def test_a_guide_code_read_by_the_phone_camera_credits_the_guide(shop: dict[str, Any]) -> None:
    c = shop["c"]
    guide = device_headers(shop["d"], "guide-phone", "guide")
    code = c.get("/api/fitting/guide-code", headers=guide).json()["code"]
    h, sid = phone(shop)
    frame, answers = qr_frame(code), []
    for i in range(4):  # the page sends a few frames a second while the code is in view
        headers = {
            **h,
            "Content-Type": "image/jpeg",
            "X-Frame-Id": uuid.uuid4().hex,
            "X-Frame-Time": str(5000 + i * 250),
        }
        r = c.post(f"/api/go/carts/{sid}/frames", content=frame, headers=headers)
        assert r.status_code == 200, r.text
        answers.append(r.json())
    cart = c.get("/api/go/state", headers=h).json()["cart"]
    assert cart["session_id"] == sid and cart["guide"] == {"guide_id": "guide-phone"}, answers
