"""The real payment rails at a kiosk: WeChat Pay and Alipay payment codes through the real SDKs,
against the gateway simulators (cloud/gateways), which check the box's signatures and sign their
own answers. Every assertion about money is read from the simulator's ledger, not the box's.

The app runs in production mode: the sandbox is refused, so everything here moved on a rail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from cloud.gateways import Behaviour
from edge.app import Daemon
from edge.checkout.catalog import import_products
from edge.checkout.models import Order, PaymentIntent
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from edge.platform.errors import StartupRefused
from tests.support.inproc import device_headers, running_app, settings_for, staff_headers
from tests.support.rails import Gateways, gateways, money_taken, wallet_code
from tests.support.waits import wait_for

TEA = GROCERY[0][0]  # 29.90
RAILS = ["alipay", "wechatpay"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = Path(tmp_path_factory.mktemp("rails")) / "data"
    with gateways(data) as gw, rail_app(data, gw) as st:
        yield st


@contextmanager
def rail_app(data: Path, gw: Gateways, **rails: Any) -> Iterator[dict[str, Any]]:
    """The app in production mode on both rails, with the demo catalog, a kiosk and a staff login."""
    overrides = {"checkout": {"mode": "production", "qr_acquirer": "rails", "rails": {**gw.settings, **rails}}}
    with running_app(data, overrides) as (client, daemon):
        assert not import_products(daemon.ctx.store, demo_rows("CNY")).refused
        yield {
            "client": client,
            "daemon": daemon,
            "gw": gw,
            "kiosk": device_headers(daemon, f"kiosk-{uuid.uuid4().hex[:8]}", "kiosk"),
            "staff": staff_headers(daemon),
        }


def cart(st: dict[str, Any], qty: int = 1) -> str:
    c = st["client"]
    sid = str(c.post("/api/kiosk/sessions", json={}, headers=st["kiosk"]).json()["session_id"])
    r = c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA, "qty": qty}, headers=st["kiosk"])
    assert r.status_code == 201, r.text
    return sid


def pay(st: dict[str, Any], sid: str, code: str) -> Any:
    body = {"provider": "qr", "payment_code": code}
    return st["client"].post(f"/api/kiosk/sessions/{sid}/checkout", json=body, headers=st["kiosk"])


def paid(st: dict[str, Any], sid: str, rail: str) -> str:
    """Pay the cart on this rail and wait until the box has recorded the sale as captured: its order id."""
    r = pay(st, sid, wallet_code(rail))
    assert r.status_code == 200, r.text
    wait_for(lambda: intents(st, sid)[0].status, 10, "the payment recorded as captured",
             until=lambda s: s == "captured")  # fmt: skip
    return str(r.json()["order_id"])


def intents(st: dict[str, Any], sid: str) -> list[PaymentIntent]:
    with st["daemon"].ctx.store.read() as s:
        return list(s.exec(select(PaymentIntent).where(PaymentIntent.session_id == sid)))


def has_order(st: dict[str, Any], sid: str) -> bool:
    with st["daemon"].ctx.store.read() as s:
        return s.exec(select(Order).where(Order.session_id == sid)).first() is not None


def ledger(st: dict[str, Any], rail: str, sid: str) -> list[dict[str, Any]]:
    return [t for t in st["gw"].sim(rail).trades() if t.get("attach") == sid]


def scripted(st: dict[str, Any], rail: str, outcome: str, seconds: float = 0.0) -> str:
    code = wallet_code(rail)
    st["gw"].sim(rail).script(code, Behaviour(outcome, seconds))
    return code


# --- each documented outcome ---------------------------------------------------------------
@pytest.mark.parametrize("rail", RAILS)
def test_a_payment_code_pays_once_on_its_own_rail_and_the_order_is_captured(shop: dict[str, Any], rail: str) -> None:
    sid = cart(shop, 2)
    r = pay(shop, sid, wallet_code(rail))
    assert r.status_code == 200, r.text
    assert r.json()["total_minor"] == 5980 and r.json()["exit_pass"]
    [trade] = ledger(shop, rail, sid)
    assert (trade["amount_minor"], trade["pay_calls"], trade["state"]) == (5980, 1, "paid")
    [it] = intents(shop, sid)
    assert it.provider == rail and trade["out_trade_no"] == it.id
    wait_for(lambda: intents(shop, sid)[0].status, 10, "the rail payment recorded as captured",
             until=lambda s: s == "captured")  # fmt: skip


@pytest.mark.parametrize("rail", RAILS)
def test_waiting_for_the_wallet_password_polls_until_paid_without_paying_twice(shop: dict[str, Any], rail: str) -> None:
    sid = cart(shop)
    r = pay(shop, sid, scripted(shop, rail, "wait", 0.5))
    assert r.status_code == 200, r.text
    [trade] = ledger(shop, rail, sid)
    assert (trade["pay_calls"], trade["state"]) == (1, "paid")


@pytest.mark.parametrize("rail", RAILS)
def test_a_shopper_who_never_confirms_is_cancelled_and_told_nothing_was_charged(
    shop: dict[str, Any], rail: str
) -> None:
    sid = cart(shop)
    r = pay(shop, sid, scripted(shop, rail, "wait_forever"))
    assert r.status_code == 402, r.text
    err = r.json()["error"]
    assert (err["code"], err["details"]["charged"]) == ("payment_not_confirmed", False)
    [trade] = ledger(shop, rail, sid)
    assert (trade["pay_calls"], trade["state"]) == (1, "closed")
    assert [i.status for i in intents(shop, sid)] == ["failed"] and not has_order(shop, sid)


@pytest.mark.parametrize("rail", RAILS)
@pytest.mark.parametrize(
    ("outcome", "code"), [("decline", "payment_declined"), ("expired_code", "payment_code_expired")]
)
def test_a_refusal_says_why_and_moves_nothing(shop: dict[str, Any], rail: str, outcome: str, code: str) -> None:
    sid = cart(shop)
    r = pay(shop, sid, scripted(shop, rail, outcome))
    assert (r.status_code, r.json()["error"]["code"]) == (402, code), r.text
    assert r.json()["error"]["details"]["charged"] is False
    assert money_taken(shop["gw"].sim(rail).trades(), sid) == 0 and not has_order(shop, sid)
    # the shopper refreshes the code and pays: the same cart, a new payment
    r = pay(shop, sid, wallet_code(rail))
    assert r.status_code == 200, r.text
    assert money_taken(shop["gw"].sim(rail).trades(), sid) == 2990


@pytest.mark.parametrize("rail", RAILS)
@pytest.mark.parametrize("outcome", ["timeout", "error500", "system_error"])
def test_an_unknown_outcome_is_asked_not_repaid_and_a_paid_trade_becomes_the_order(
    shop: dict[str, Any], rail: str, outcome: str
) -> None:
    sid = cart(shop)
    r = pay(shop, sid, scripted(shop, rail, outcome, 2.0))  # the timeout holds the answer past the box's 1 s
    assert r.status_code == 200, r.text
    [trade] = ledger(shop, rail, sid)
    assert (trade["pay_calls"], trade["state"]) == (1, "paid")
    assert has_order(shop, sid)


# --- codes that never reach a network ------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("28123456789012345", 400, "bad_payment_code"),  # 17 digits
        ("2812345678901234567", 400, "bad_payment_code"),  # 19 digits
        ("28123456789012345X", 400, "bad_payment_code"),
        ("２８１２３４５６７８９０１２３４５６７", 422, "invalid_request"),  # full-width digits: refused at the door
        ("201234567890123456", 400, "unsupported_wallet"),  # a prefix neither rail uses
        ("", 400, "bad_payment_code"),
    ],
)
def test_a_bad_payment_code_is_refused_before_any_network_call(
    shop: dict[str, Any], code: str, status: int, error: str
) -> None:
    calls = shop["gw"].alipay.stats()["calls"] + shop["gw"].wechat.stats()["calls"]
    trades = len(shop["gw"].alipay.trades()) + len(shop["gw"].wechat.trades())
    sid = cart(shop)
    r = pay(shop, sid, code)
    assert (r.status_code, r.json()["error"]["code"]) == (status, error), r.text
    assert shop["gw"].alipay.stats()["calls"] + shop["gw"].wechat.stats()["calls"] == calls
    assert len(shop["gw"].alipay.trades()) + len(shop["gw"].wechat.trades()) == trades
    assert intents(shop, sid) == []


# --- refunds and voids through the rail ----------------------------------------------------
@pytest.mark.parametrize("rail", RAILS)
def test_partial_and_full_refunds_go_back_through_the_rail_once(shop: dict[str, Any], rail: str) -> None:
    sid = cart(shop, 3)
    oid = paid(shop, sid, rail)
    c, staff = shop["client"], shop["staff"]
    one = {"lines": [{"line_no": 1, "qty": 1}], "reason": "dented"}
    r = c.post(f"/api/checkout/orders/{oid}/refund", json=one, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["amount_minor"] == 2990
    assert money_taken(shop["gw"].sim(rail).trades(), sid) == 2 * 2990
    r = c.post(f"/api/checkout/orders/{oid}/refund", json={"reason": "changed mind"}, headers=staff)
    assert (r.status_code, r.json()["amount_minor"], r.json()["status"]) == (200, 2 * 2990, "refunded"), r.text
    assert money_taken(shop["gw"].sim(rail).trades(), sid) == 0
    [trade] = ledger(shop, rail, sid)
    assert [x["amount_minor"] for x in trade["refunds"]] == [2990, 2 * 2990]
    r = c.post(f"/api/checkout/orders/{oid}/refund", json={"reason": "again"}, headers=staff)
    assert r.status_code == 409, r.text  # nothing left: refused, and nothing moved
    assert len(ledger(shop, rail, sid)[0]["refunds"]) == 2


@pytest.mark.parametrize("rail", RAILS)
def test_a_void_refunds_the_whole_sale_through_the_rail(shop: dict[str, Any], rail: str) -> None:
    sid = cart(shop, 2)
    oid = paid(shop, sid, rail)
    r = shop["client"].post(f"/api/checkout/orders/{oid}/void", json={"reason": "wrong cart"}, headers=shop["staff"])
    assert r.status_code == 200, r.text
    assert money_taken(shop["gw"].sim(rail).trades(), sid) == 0


# --- configuration -------------------------------------------------------------------------
def test_a_code_for_a_rail_this_store_does_not_have_is_refused_by_name(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with gateways(data) as gw:
        only_alipay = {**gw.settings, "wechatpay": {}}
        with rail_app(data, gw, **only_alipay) as st:
            sid = cart(st)
            r = pay(st, sid, wallet_code("wechatpay"))
            assert (r.status_code, r.json()["error"]["code"]) == (422, "rail_not_configured"), r.text
            assert "WeChat Pay" in r.json()["error"]["message"]
            assert gw.wechat.stats()["calls"] == 0
            assert pay(st, sid, wallet_code("alipay")).status_code == 200


def test_an_answer_that_does_not_verify_is_never_trusted_and_recovery_returns_the_money(tmp_path: Path) -> None:
    """A gateway answer signed with another key (a forgery, or a wrong key on the box): the box
    cannot know what happened, so it says so and leaves the payment open; once it can verify again,
    the start-up recovery settles it with the gateway (cancelled, nothing taken, no order)."""
    from cloud.gateways import new_rsa_pair
    from tests.support.rails import write_secrets

    data = tmp_path / "data"
    with gateways(data) as gw:
        _, wrong_public = new_rsa_pair()
        good_public = (data / "secrets" / "alipay_public_key").read_text()
        write_secrets(data, {"alipay_public_key": wrong_public})
        with rail_app(data, gw) as st:
            sid = cart(st)
            r = pay(st, sid, wallet_code("alipay"))
            assert (r.status_code, r.json()["error"]["code"]) == (502, "payment_unconfirmed"), r.text
            assert r.json()["error"]["details"]["charged"] == "unknown"
            [trade] = ledger(st, "alipay", sid)
            assert trade["pay_calls"] == 1 and trade["paid_at"]  # the gateway took it ...
            # ... and the box's cancel reached it too, but the box cannot believe that answer either
            assert [i.status for i in intents(st, sid)] == ["authorizing"]  # left open, not marked failed
        write_secrets(data, {"alipay_public_key": good_public})
        with rail_app(data, gw) as st:  # start-up recovery
            assert ledger(st, "alipay", sid)[0]["state"] == "closed"
            assert money_taken(gw.alipay.trades(), sid) == 0
            assert [i.status for i in intents(st, sid)] == ["reversed"] and not has_order(st, sid)


def test_a_production_box_with_a_kiosk_camera_and_no_rail_refuses_to_start(tmp_path: Path) -> None:
    kiosk_cam = {"id": "k1", "source": "/dev/video0", "role": "kiosk", "target": "kiosk-1"}
    settings = settings_for(tmp_path / "data", {"checkout": {"mode": "production"}, "cameras": [kiosk_cam]})
    with pytest.raises(StartupRefused, match="no payment rail is ready"):
        Daemon(settings)
