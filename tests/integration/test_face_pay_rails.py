"""Face-pay on the real rails: the verified member's wallet agreement (withholding) is charged on
their wallet's gateway simulator. Real app in production mode, real models, real shared photos.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.checkout.catalog import import_products
from edge.demo.catalog import demo_rows
from tests.conftest import shared_path
from tests.integration.test_face_api import wait_models
from tests.integration.test_face_checkout import FACE_A, FACE_B, cart, enrol, face_verify, pay
from tests.support.inproc import device_headers, running_app, staff_headers
from tests.support.rails import gateways, money_taken

AGREEMENTS = {"a": ("alipay", "20215900000000000042"), "b": ("wechatpay", "201612000000042")}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = Path(tmp_path_factory.mktemp("face-rails")) / "data"
    with gateways(data) as gw:
        overrides = {
            "model_dir": str(shared_path("models")),
            "facepay": {"attempts_per_kiosk_per_min": 50},
            "checkout": {"mode": "production", "qr_acquirer": "rails", "rails": gw.settings},
        }
        with running_app(data, overrides) as (client, daemon):
            assert wait_models(client)["status"] == "ok"
            assert not import_products(daemon.ctx.store, demo_rows("CNY")).refused
            staff = staff_headers(daemon)
            members: dict[str, Any] = {}
            for who, phone, faces in (("a", "13800003333", FACE_A), ("b", "13900004444", FACE_B)):
                rail, agreement = AGREEMENTS[who]
                gw.sim(rail).add_agreement(agreement)
                body = {"phone": phone, "name": who, "pay": {"rail": rail, "agreement": agreement}}
                m = client.post("/api/checkout/members", json=body, headers=staff).json()
                enrol(client, staff, m["member_id"], phone, faces)
                members[who] = m
            yield {
                "client": client,
                "daemon": daemon,
                "gw": gw,
                "staff": staff,
                "kiosk": device_headers(daemon, "kiosk-1", "kiosk"),
                **members,
            }


def agree(shop: dict[str, Any], who: str, body: dict[str, str]) -> Any:
    member = shop[who]["member_id"]
    return shop["client"].put(f"/api/checkout/members/{member}/pay-agreement", json=body, headers=shop["staff"])


def restore(shop: dict[str, Any], who: str) -> None:
    rail, agreement = AGREEMENTS[who]
    assert agree(shop, who, {"rail": rail, "agreement": agreement}).status_code == 200


@pytest.mark.parametrize(("who", "face"), [("a", FACE_A[2]), ("b", FACE_B[2])])
def test_the_verified_members_wallet_agreement_is_charged_on_its_rail(
    shop: dict[str, Any], who: str, face: str
) -> None:
    rail, agreement = AGREEMENTS[who]
    sid = cart(shop, shop[who]["member_code"])
    auth = face_verify(shop, sid, face)["authorization"]
    assert auth is not None
    r = pay(shop, sid, auth["auth_id"])
    assert r.status_code == 200, r.text
    assert r.json()["payment"]["provider"] == f"face-{rail}"
    [trade] = [t for t in shop["gw"].sim(rail).trades() if t["attach"] == sid]
    assert (trade["kind"], trade["key"], trade["pay_calls"]) == ("withhold", agreement, 1)
    assert money_taken([trade], sid) == r.json()["total_minor"]


def test_a_member_without_an_agreement_is_told_to_pay_with_a_code_and_nothing_moves(shop: dict[str, Any]) -> None:
    r = agree(shop, "a", {"rail": ""})
    assert r.status_code == 200, r.text
    try:
        sid = cart(shop, shop["a"]["member_code"])
        auth = face_verify(shop, sid, FACE_A[2])["authorization"]
        r = pay(shop, sid, auth["auth_id"])
        assert (r.status_code, r.json()["error"]["code"]) == (422, "no_pay_agreement"), r.text
        assert not [t for t in shop["gw"].alipay.trades() if t["attach"] == sid]
    finally:
        restore(shop, "a")


def test_an_agreement_the_wallet_no_longer_honours_is_refused_without_a_charge(shop: dict[str, Any]) -> None:
    never_signed = {"rail": "wechatpay", "agreement": "201612000000099"}  # unknown at the gateway
    assert agree(shop, "b", never_signed).status_code == 200
    try:
        sid = cart(shop, shop["b"]["member_code"])
        auth = face_verify(shop, sid, FACE_B[2])["authorization"]
        r = pay(shop, sid, auth["auth_id"])
        assert (r.status_code, r.json()["error"]["code"]) == (402, "pay_agreement_invalid"), r.text
        assert r.json()["error"]["details"]["charged"] is False
        assert money_taken(shop["gw"].wechat.trades(), sid) == 0
    finally:
        restore(shop, "b")


def test_a_bad_agreement_is_refused_at_the_door(shop: dict[str, Any]) -> None:
    for body in ({"rail": "alipay", "agreement": ""}, {"rail": "alipay", "agreement": "<script>"}, {"rail": "visa"}):
        r = agree(shop, "a", body)
        assert r.status_code in (400, 422) and r.json()["error"]["code"] in ("bad_pay_agreement", "invalid_request")
