"""One membership across the chain: members and wallets owned by the real reference cloud on
PostgreSQL, down-synced into two stores (two in-process daemons, each its own SQLite file).

A campaign issues coupons into wallets; a member proven by their code finds the coupons that
apply to their cart applied by themselves and redeemed chain-wide with the order; a typed phone
number finds the same member by its lookup hash, in any store, without their coupons; a member
first seen in another store gets their wallet pushed there; an erasure at the cloud empties the
member everywhere, face record included, and their coupons can no longer be reserved.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlmodel import select

from edge.checkout.models import Member, WalletCoupon
from edge.checkout.service import CheckoutServices
from edge.demo.gtins import GROCERY
from tests.support.chain import chain_stores
from tests.support.inproc import device_headers
from tests.support.waits import wait_for

TEA = GROCERY[0][0]
STORES = {"mem-a": "tok-mem-a", "mem-b": "tok-mem-b"}
PHONE = "+86 138 0000 1111"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    sync = {"downsync_interval_s": 0.3, "idle_poll_s": 0.2, "backoff_initial_s": 0.2, "backoff_max_s": 1.0,
            "coupon_reserve_timeout_s": 2.0}  # fmt: skip
    with chain_stores(Path(tmp_path_factory.mktemp("members")), STORES, sync) as chain:
        rx = chain["rx"]
        r = rx.admin("PUT", "/v1/admin/members", {"members": [
            {"id": "m-ann", "name": "Ann", "tier": "gold", "phone": PHONE, "home_store": "mem-a"},
            {"id": "m-bo", "name": "Bo", "home_store": "mem-b", "facepay": "chain"}]})  # fmt: skip
        assert r.status_code == 200, r.text
        spring = {"campaign": "spring", "kind": "percent", "value": 10, "name": "Spring 10%"}
        big = {"campaign": "big", "kind": "fixed", "value": 500, "min_spend_minor": 100_000}
        for campaign in (spring, big):
            r = rx.admin("POST", "/v1/admin/campaigns", campaign)
            assert r.status_code == 201, r.text
        yield chain


def _wallet(box: dict[str, Any], member: str) -> list[str]:
    with box["d"].ctx.store.read() as s:
        rows = s.exec(select(WalletCoupon).where(WalletCoupon.member_id == member)).all()
        return sorted(w.use_key for w in rows)


def _member(box: dict[str, Any], member: str) -> Member | None:
    with box["d"].ctx.store.read() as s:
        return s.get(Member, member)


def _cart(box: dict[str, Any], kiosk: str) -> tuple[str, dict[str, str]]:
    h = device_headers(box["d"], kiosk, "kiosk")
    sid = str(box["c"].post("/api/kiosk/sessions", json={}, headers=h).json()["session_id"])
    assert box["c"].post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=h).status_code == 201
    return sid, h


def _attach_code(box: dict[str, Any], sid: str, h: dict[str, str], member: str) -> dict[str, Any]:
    code = box["d"].ctx.own(CheckoutServices).sessions.codes.member_code(member)
    r = box["c"].post(f"/api/kiosk/sessions/{sid}/member", json={"code": code}, headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _pay(box: dict[str, Any], sid: str, h: dict[str, str]) -> dict[str, Any]:
    r = box["c"].post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _cloud_use(dsn: str, use_key: str) -> tuple[str, str | None] | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT status, order_id FROM coupon_use WHERE use_key = %s", (use_key,)).fetchone()
    return (row[0], row[1]) if row else None


def test_a_member_and_wallet_from_the_cloud_apply_by_themselves_and_redeem_chain_wide(chain: dict[str, Any]) -> None:
    a, b = chain["mem-a"], chain["mem-b"]
    wait_for(lambda: _member(b, "m-ann"), 30, "Ann (a member of the chain) to reach the other store too")
    keys = wait_for(lambda: _wallet(a, "m-ann"), 30, "Ann's wallet at her home store", until=lambda w: len(w) == 2)
    assert _wallet(b, "m-ann") == [], "a store keeps only the wallets of the members it serves"
    ann = _member(a, "m-ann")
    assert ann is not None and ann.name == "Ann" and ann.tier == "gold" and ann.phone is None and ann.phone_hash

    sid, h = _cart(a, "k-ann")
    cart = _attach_code(a, sid, h, "m-ann")
    assert [(c["coupon_id"], c["wallet"]) for c in cart["coupons"]] == [("spring", True)], cart["coupons"]
    assert {w["coupon_id"]: w["applied"] for w in cart["wallet"]} == {"spring": True, "big": False}
    assert any(d["rule_id"] == "spring" for d in cart["order_discounts"])
    paid = _pay(a, sid, h)
    spring = next(k for k in keys if k.startswith("spring:"))
    use = wait_for(lambda: _cloud_use(chain["dsn"], spring), 30, "the wallet coupon's use to commit at the cloud",
                   until=lambda u: u is not None and u[0] == "committed")  # fmt: skip
    assert use == ("committed", paid["order_id"])
    wait_for(lambda: _wallet(a, "m-ann"), 30, "the used coupon to leave Ann's wallet in every store",
             until=lambda w: not any(k.startswith("spring:") for k in w))  # fmt: skip

    history = wait_for(lambda: chain["rx"].admin("GET", "/v1/admin/members/m-ann/receipts", None).json()["receipts"],
                       30, "Ann's receipt in her history at the cloud")  # fmt: skip
    assert [(x["store_id"], x["order_id"], x["total_minor"]) for x in history] == [
        ("mem-a", paid["order_id"], paid["total_minor"])]  # fmt: skip
    sid2, h2 = _cart(a, "k-ann-2")  # her next visit: the used coupon is not offered again
    cart2 = _attach_code(a, sid2, h2, "m-ann")
    assert cart2["coupons"] == [] and [w["coupon_id"] for w in cart2["wallet"]] == ["big"]


def test_a_typed_phone_finds_the_chain_member_in_any_store_without_their_coupons(chain: dict[str, Any]) -> None:
    b = chain["mem-b"]
    wait_for(lambda: _member(b, "m-ann"), 30, "Ann to reach the other store")
    sid, h = _cart(b, "k-phone")
    r = b["c"].post(f"/api/kiosk/sessions/{sid}/member", json={"phone": PHONE}, headers=h)
    assert r.status_code == 200, r.text
    cart = r.json()
    assert cart["member"]["masked"] and "Ann" not in json.dumps(cart["member"])
    assert cart["coupons"] == [] and cart["wallet"] == [], "a typed number never spends someone's coupons"
    r = b["c"].post(f"/api/kiosk/sessions/{sid}/member", json={"phone": "13900009999"}, headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_member"


def test_a_member_first_seen_in_another_store_gets_their_wallet_there(chain: dict[str, Any]) -> None:
    a, b = chain["mem-a"], chain["mem-b"]
    wait_for(lambda: _member(b, "m-ann"), 30, "Ann to reach the other store")
    wait_for(lambda: _wallet(a, "m-ann"), 30, "Ann's wallet", until=lambda w: len(w) >= 1)
    sid, h = _cart(b, "k-visit")
    _attach_code(b, sid, h, "m-ann")
    _pay(b, sid, h)  # her first purchase here: the cloud sees her in this store
    pushed = wait_for(lambda: _wallet(b, "m-ann"), 40, "Ann's wallet to follow her to the other store")
    assert any(k.startswith("big:") for k in pushed), pushed


def test_an_erasure_at_the_cloud_empties_the_member_everywhere_and_stops_their_coupons(chain: dict[str, Any]) -> None:
    from edge.facepay.models import FaceConsent, FaceMember

    a, b = chain["mem-a"], chain["mem-b"]
    bo_keys = wait_for(lambda: _wallet(b, "m-bo"), 30, "Bo's wallet at his home store", until=lambda w: len(w) == 2)
    with b["d"].ctx.store.write() as s:  # Bo enrolled his face at his home store
        s.add(FaceMember(member_id="m-bo", phone_hash="hash-bo"))
        s.add(FaceConsent(member_id="m-bo", consent_version="v1", kiosk_id="k1", actor="kiosk:k1"))
    r = chain["rx"].admin("POST", "/v1/admin/members/m-bo/erase", {"reason": "member asked (GDPR art. 17)"})
    assert r.status_code == 200, r.text

    def erased(box: dict[str, Any]) -> bool:
        m = _member(box, "m-bo")
        return m is not None and m.name == "" and m.phone_hash is None and _wallet(box, "m-bo") == []

    wait_for(lambda: erased(a) and erased(b), 30, "Bo to be erased in both stores")

    def face_gone() -> bool:
        with b["d"].ctx.store.read() as s:
            return s.get(FaceMember, "m-bo") is None

    wait_for(face_gone, 30, "Bo's face record to be erased")
    reserve = httpx.post(
        chain["rx"].url + "/v1/coupons/reserve",
        json={"holder": "mem-b/box/x", "uses": [{"use_key": bo_keys[0], "coupon_id": bo_keys[0].split(":")[0]}]},
        headers={"Authorization": f"Bearer {STORES['mem-b']}"},
        timeout=10,
    )
    assert reserve.status_code == 409 and reserve.json()["code"] == "coupon_used", reserve.text
    again = chain["rx"].admin("PUT", "/v1/admin/members", {"members": [{"id": "m-bo", "name": "Bo again"}]})
    assert again.status_code == 200 and again.json()["refused_erased"] == ["m-bo"], "an erased member stays erased"
    r = chain["rx"].admin("POST", "/v1/admin/members/m-nobody/erase", {"reason": "typo"})
    assert r.status_code == 404 and r.json()["code"] == "member_unknown"


def test_the_cloud_refuses_bad_members_and_campaigns_with_a_reason(chain: dict[str, Any]) -> None:
    rx = chain["rx"]
    body: dict[str, Any]
    for body in ({"members": []}, {"members": [{"id": "x y"}]}, {"members": [{"id": "m1", "phone": "12"}]},
                 {"members": [{"id": "m1", "facepay": "everywhere"}]}):  # fmt: skip
        r = rx.admin("PUT", "/v1/admin/members", body)
        assert r.status_code == 422 and r.json()["code"] == "invalid_members", (body, r.text)
    for body in ({"campaign": "c1", "kind": "percent", "value": 95}, {"campaign": "c 1", "kind": "fixed", "value": 1},
                 {"campaign": "c1", "kind": "fixed", "value": 1, "per_member": 50}):  # fmt: skip
        r = rx.admin("POST", "/v1/admin/campaigns", body)
        assert r.status_code == 422 and r.json()["code"] == "invalid_campaign", (body, r.text)
    r = httpx.put(rx.url + "/v1/admin/members", json={"members": [{"id": "m1"}]}, timeout=10)
    assert r.status_code == 401


def test_a_guide_code_from_one_store_credits_the_guide_for_a_sale_in_another(chain: dict[str, Any]) -> None:
    a, b = chain["mem-a"], chain["mem-b"]
    guide = device_headers(a["d"], "guide-cy", "guide")
    code = a["c"].get("/api/fitting/guide-code", headers=guide).json()["code"]  # signed with the chain's guide key
    sid, h = _cart(b, "k-guide")
    r = b["c"].post(f"/api/kiosk/sessions/{sid}/guide", json={"code": code}, headers=h)
    assert r.status_code == 200 and r.json()["guide"] == {"guide_id": "guide-cy"}, r.text
    paid = _pay(b, sid, h)

    def report() -> list[dict[str, Any]]:
        r = chain["rx"].admin("GET", "/v1/admin/guides/attribution?days=1", None)
        assert r.status_code == 200, r.text
        return [g for g in r.json()["guides"] if g["guide_id"] == "guide-cy"]

    rows = wait_for(report, 30, "the sale to reach the cloud's guide report")
    assert rows == [{"guide_store": "mem-a", "guide_id": "guide-cy", "sold_in": "mem-b", "via": "code", "orders": 1,
                     "items": 1, "sales_minor": paid["total_minor"]}]  # fmt: skip


def test_a_member_served_by_a_guide_who_buys_later_in_another_store_credits_the_guide(chain: dict[str, Any]) -> None:
    a, b = chain["mem-a"], chain["mem-b"]
    wait_for(lambda: _member(b, "m-ann"), 30, "Ann to reach the other store")
    guide = device_headers(a["d"], "guide-dee", "guide")
    code = a["c"].get("/api/fitting/guide-code", headers=guide).json()["code"]
    sid, h = _cart(a, "k-served")  # Ann is served by Dee at her home store, and leaves without buying
    _attach_code(a, sid, h, "m-ann")
    assert a["c"].post(f"/api/kiosk/sessions/{sid}/guide", json={"code": code}, headers=h).status_code == 200
    sid2, h2 = _cart(b, "k-later")  # later, she buys in the other store, with no guide's code
    _attach_code(b, sid2, h2, "m-ann")
    paid = _pay(b, sid2, h2)

    def completed() -> list[dict[str, Any]]:
        r = chain["rx"].admin("GET", "/v1/admin/guides/attribution?days=1", None)
        return [g for g in r.json()["guides"] if g["guide_id"] == "guide-dee"]

    rows = wait_for(completed, 30, "the cloud to credit Dee for Ann's purchase")
    assert rows == [{"guide_store": "mem-a", "guide_id": "guide-dee", "sold_in": "mem-b", "via": "cloud", "orders": 1,
                     "items": 1, "sales_minor": paid["total_minor"]}]  # fmt: skip


def _campaign_for(chain: dict[str, Any], member: str, campaign: dict[str, Any]) -> list[str]:
    """A member of store A with a campaign of their own, in their home store's wallet."""
    r = chain["rx"].admin("PUT", "/v1/admin/members", {"members": [{"id": member, "home_store": "mem-a"}]})
    assert r.status_code == 200, r.text
    r = chain["rx"].admin("POST", "/v1/admin/campaigns", {**campaign, "members": [member]})
    assert r.status_code == 201, r.text
    return wait_for(lambda: _wallet(chain["mem-a"], member), 30, f"{member}'s wallet at store A")


def test_a_wallet_coupon_applies_as_soon_as_the_basket_meets_its_minimum(chain: dict[str, Any]) -> None:
    a = chain["mem-a"]
    _campaign_for(chain, "m-dee", {"campaign": "mid", "kind": "fixed", "value": 300, "min_spend_minor": 5000})
    h = device_headers(a["d"], "k-mid", "kiosk")
    sid = a["c"].post("/api/kiosk/sessions", json={}, headers=h).json()["session_id"]
    cart = _attach_code(a, sid, h, "m-dee")  # the member first, the basket after
    assert cart["coupons"] == [] and [(w["coupon_id"], w["applied"]) for w in cart["wallet"]] == [("mid", False)]
    one = a["c"].post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=h).json()["cart"]
    assert one["coupons"] == [], "29.90 is under the 50.00 minimum"
    two = a["c"].post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=h).json()["cart"]
    assert [c["coupon_id"] for c in two["coupons"]] == ["mid"] and two["discount_minor"] == 300
    paid = _pay(a, sid, h)
    assert paid["total_minor"] == two["total_minor"]


def test_a_wallet_coupon_the_chain_refuses_leaves_the_cart_and_the_shopper_pays_again(chain: dict[str, Any]) -> None:
    a = chain["mem-a"]
    keys = _campaign_for(chain, "m-eve", {"campaign": "once", "kind": "percent", "value": 20})
    with psycopg.connect(chain["dsn"]) as conn:  # used in another store a moment ago: this box has not heard yet
        conn.execute("INSERT INTO coupon_use (use_key, coupon_id, store_id, holder, status, order_id) "
                     "VALUES (%s, 'once', 'mem-b', 'elsewhere', 'committed', 'o-elsewhere')", (keys[0],))  # fmt: skip
    sid, h = _cart(a, "k-once")
    cart = _attach_code(a, sid, h, "m-eve")
    assert [c["coupon_id"] for c in cart["coupons"]] == ["once"]
    r = a["c"].post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "wallet_coupon_used", r.text
    after = a["c"].get(f"/api/kiosk/sessions/{sid}", headers=h).json()
    assert after["coupons"] == [] and after["wallet"] == [] and _wallet(a, "m-eve") == []
    assert _pay(a, sid, h)["total_minor"] == after["total_minor"] == cart["subtotal_minor"], "full price, once"
