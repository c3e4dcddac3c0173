"""The WeChat Pay simulator, driven only through the real wechatpy client and the /_sim/ control API.

wechatpy does not check the signature of a synchronous answer, so these tests check it with the
SDK's own `check_signature` where the box would; notifications go through `parse_payment_result`.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import xmltodict  # type: ignore[import-untyped]
from wechatpy.exceptions import InvalidSignatureException, WeChatPayException  # type: ignore[import-untyped]
from wechatpy.pay import WeChatPay  # type: ignore[import-untyped]
from wechatpy.pay.api import withhold  # type: ignore[import-untyped]
from wechatpy.pay.utils import calculate_signature_hmac  # type: ignore[import-untyped]

from cloud.gateways import Behaviour, WeChatPaySimulator
from tests.support.gateway_box import WECHAT_ACK, NotifyReceiver
from tests.support.waits import wait_for

APPID, MCH_ID, API_KEY = "wx5im0000000000001", "1900000109", "0123456789abcdef0123456789abcdef"
_codes = itertools.count(1)


def code() -> str:
    """A fresh, well-formed WeChat payment code (18 digits starting 10..15)."""
    return f"13{next(_codes):016d}"


@pytest.fixture
def sim() -> Iterator[WeChatPaySimulator]:
    with WeChatPaySimulator(APPID, MCH_ID, API_KEY) as simulator:
        simulator.notifier.retry_interval = 0.05  # the box's retries, quickly
        yield simulator


def make_client(sim: WeChatPaySimulator, api_key: str = API_KEY, timeout: float = 5) -> Any:
    client = WeChatPay(APPID, api_key, MCH_ID, timeout=timeout)
    client.API_BASE_URL = sim.url
    return client


@pytest.fixture
def wechat(sim: WeChatPaySimulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(withhold, "get_external_ip", lambda: "127.0.0.1")  # no DNS lookup of the real gateway
    return make_client(sim)


@pytest.fixture
def box() -> Iterator[NotifyReceiver]:
    with NotifyReceiver(lambda body: WECHAT_ACK) as receiver:
        yield receiver


def micropay(wechat: Any, out_trade_no: str, auth_code: str, fee: int = 1230) -> dict[str, Any]:
    answer = wechat.micropay.create("groceries", fee, auth_code, client_ip="127.0.0.1", out_trade_no=out_trade_no,
                                    attach="cart-1")  # fmt: skip
    return dict(answer)


def refused(call: Any, *args: Any, **kwargs: Any) -> WeChatPayException:
    with pytest.raises(WeChatPayException) as raised:
        call(*args, **kwargs)
    return raised.value


def state(wechat: Any, out_trade_no: str) -> str:
    return str(wechat.order.query(out_trade_no=out_trade_no)["trade_state"])


def ledger(sim: WeChatPaySimulator, out_trade_no: str) -> dict[str, Any]:
    found = sim.trade(out_trade_no)
    assert found is not None, f"no trade {out_trade_no} in the ledger"
    return found


def order(wechat: Any, out_trade_no: str, notify_url: str, **kwargs: Any) -> dict[str, Any]:
    return dict(wechat.order.create("NATIVE", "app order", 800, notify_url, client_ip="127.0.0.1",
                                    out_trade_no=out_trade_no, attach="cart-9", **kwargs))  # fmt: skip


# behaviours -----------------------------------------------------------------------------------
def test_success_pays_at_once(sim: WeChatPaySimulator, wechat: Any) -> None:
    answer = micropay(wechat, "W-ok", code())
    assert (answer["result_code"], answer["trade_type"], answer["total_fee"]) == ("SUCCESS", "MICROPAY", "1230")
    assert answer["transaction_id"] and answer["time_end"] and wechat.check_signature(answer)
    assert not make_client(sim, api_key="f" * 32).check_signature(answer)
    assert state(wechat, "W-ok") == "SUCCESS"
    trade = ledger(sim, "W-ok")
    assert (trade["amount_minor"], trade["attach"], trade["pay_calls"], trade["money_taken_minor"]) == (
        1230,
        "cart-1",
        1,
        1230,
    )


def test_wait_pays_after_the_seconds(sim: WeChatPaySimulator, wechat: Any) -> None:
    auth_code = code()
    sim.script(auth_code, Behaviour("wait", 0.3))
    assert refused(micropay, wechat, "W-wait", auth_code).errcode == "USERPAYING"
    assert state(wechat, "W-wait") == "USERPAYING"
    wait_for(lambda: state(wechat, "W-wait"), 5, "the shopper to confirm", until=lambda s: s == "SUCCESS")


def test_wait_forever_stays_waiting_until_reversed(sim: WeChatPaySimulator, wechat: Any) -> None:
    auth_code = code()
    sim.script(auth_code, Behaviour("wait_forever"))
    assert refused(micropay, wechat, "W-never", auth_code).errcode == "USERPAYING"
    assert state(wechat, "W-never") == "USERPAYING"
    assert wechat.order.reverse(out_trade_no="W-never")["recall"] == "N"
    assert state(wechat, "W-never") == "REVOKED"
    assert refused(micropay, wechat, "W-never", code()).errcode == "ORDERREVERSED"
    assert ledger(sim, "W-never")["money_taken_minor"] == 0


def test_decline_takes_nothing(sim: WeChatPaySimulator, wechat: Any) -> None:
    auth_code = code()
    sim.script(auth_code, Behaviour("decline"))
    assert refused(micropay, wechat, "W-poor", auth_code).errcode == "NOTENOUGH"
    assert state(wechat, "W-poor") == "PAYERROR" and ledger(sim, "W-poor")["money_taken_minor"] == 0


def test_expired_and_malformed_codes_are_refused(sim: WeChatPaySimulator, wechat: Any) -> None:
    auth_code = code()
    sim.script(auth_code, Behaviour("expired_code"))
    assert refused(micropay, wechat, "W-old", auth_code).errcode == "AUTHCODEEXPIRE"
    assert refused(micropay, wechat, "W-bad", "280000000000000001").errcode == "AUTH_CODE_INVALID"
    assert refused(wechat.order.query, out_trade_no="W-old").errcode == "ORDERNOTEXIST"
    assert sim.trades() == [] and sim.pay_calls("W-old") == 1


def test_timeout_pays_but_the_client_gives_up(sim: WeChatPaySimulator) -> None:
    impatient = make_client(sim, timeout=0.3)
    auth_code = code()
    sim.script(auth_code, Behaviour("timeout", 3.0))
    with pytest.raises(requests.exceptions.Timeout):
        micropay(impatient, "W-slow", auth_code)
    assert state(impatient, "W-slow") == "SUCCESS"
    impatient.order.reverse(out_trade_no="W-slow")
    assert ledger(sim, "W-slow")["money_taken_minor"] == 0 and state(impatient, "W-slow") == "REVOKED"


def test_error500_pays_but_answers_html(sim: WeChatPaySimulator, wechat: Any) -> None:
    auth_code = code()
    sim.script(auth_code, Behaviour("error500"))
    error = refused(micropay, wechat, "W-500", auth_code)
    assert error.response.status_code == 500 and "<html>" in error.response.text
    assert state(wechat, "W-500") == "SUCCESS"


def test_system_error_pays_but_answers_systemerror_signed(sim: WeChatPaySimulator, wechat: Any) -> None:
    auth_code = code()
    sim.script(auth_code, Behaviour("system_error"))
    error = refused(micropay, wechat, "W-sys", auth_code)
    assert (error.return_code, error.result_code, error.errcode) == ("SUCCESS", "FAIL", "SYSTEMERROR")
    assert wechat.check_signature(xmltodict.parse(error.response.text)["xml"])
    assert ledger(sim, "W-sys")["state"] == "paid"


def test_lose_notification(sim: WeChatPaySimulator, wechat: Any, box: NotifyReceiver) -> None:
    sim.script("W-lost", Behaviour("lose_notification"))
    order(wechat, "W-lost", box.url)
    assert sim.shopper_pays("W-lost").done.wait(5)
    assert box.bodies() == [] and sim.stats()["notifications_lost"] == 1
    assert state(wechat, "W-lost") == "SUCCESS"


def test_duplicate_notification(sim: WeChatPaySimulator, wechat: Any, box: NotifyReceiver) -> None:
    sim.script("W-twice", Behaviour("duplicate_notification"))
    order(wechat, "W-twice", box.url)
    assert sim.shopper_pays("W-twice").done.wait(5)
    first, second = box.bodies()
    assert first == second and wechat.parse_payment_result(first)["out_trade_no"] == "W-twice"


# protocol ---------------------------------------------------------------------------------------
def test_repeated_pay_is_refused_and_counted(sim: WeChatPaySimulator, wechat: Any) -> None:
    micropay(wechat, "W-dup", code())
    assert refused(micropay, wechat, "W-dup", code()).errcode == "ORDERPAID"
    assert ledger(sim, "W-dup")["pay_calls"] == 2 and ledger(sim, "W-dup")["money_taken_minor"] == 1230


def test_refunds_are_idempotent_and_bounded(sim: WeChatPaySimulator, wechat: Any) -> None:
    micropay(wechat, "W-ref", code())
    first = wechat.refund.apply(1230, 230, "r1", out_trade_no="W-ref")
    assert (first["refund_fee"], first["out_refund_no"]) == ("230", "r1") and first["refund_id"]
    assert wechat.refund.apply(1230, 230, "r1", out_trade_no="W-ref")["refund_id"] == first["refund_id"]
    assert refused(wechat.refund.apply, 1230, 1001, "r2", out_trade_no="W-ref").errcode == "INVALID_REQUEST"
    found = wechat.refund.query(out_refund_no="r1")
    assert (found["refund_count"], found["refund_status_0"], found["refund_fee_0"]) == ("1", "SUCCESS", "230")
    assert refused(wechat.refund.query, out_refund_no="r2").errcode == "REFUNDNOTEXIST"
    assert state(wechat, "W-ref") == "REFUND" and ledger(sim, "W-ref")["money_taken_minor"] == 1000


def test_reverse_of_an_unknown_trade_blocks_a_late_pay(sim: WeChatPaySimulator, wechat: Any) -> None:
    assert wechat.order.reverse(out_trade_no="W-ghost")["result_code"] == "SUCCESS"
    assert refused(micropay, wechat, "W-ghost", code()).errcode == "ORDERREVERSED"
    assert ledger(sim, "W-ghost")["money_taken_minor"] == 0


def test_a_closed_order_cannot_be_paid(sim: WeChatPaySimulator, wechat: Any, box: NotifyReceiver) -> None:
    answer = order(wechat, "W-qr", box.url)
    assert answer["code_url"].startswith("weixin://wxpay/bizpayurl?pr=sim") and answer["prepay_id"]
    assert state(wechat, "W-qr") == "NOTPAY"
    wechat.order.close("W-qr")
    with pytest.raises(ValueError):
        sim.shopper_pays("W-qr")
    assert state(wechat, "W-qr") == "CLOSED"


def test_withholding_needs_a_registered_contract(sim: WeChatPaySimulator, wechat: Any) -> None:
    def deduct(out_trade_no: str, contract_id: str) -> Any:
        return wechat.withhold.apply_deduct("face pay", 500, contract_id, "http://127.0.0.1:9/none",
                                            out_trade_no=out_trade_no, attach="cart-7")  # fmt: skip

    assert refused(deduct, "W-w0", "200000000001").errcode == "CONTRACT_NOT_EXIST"
    sim.add_agreement("200000000001")
    assert deduct("W-w1", "200000000001")["result_code"] == "SUCCESS"
    queried = wechat.withhold.query_order(out_trade_no="W-w1")
    assert (queried["trade_state"], queried["trade_type"], queried["contract_id"]) == ("SUCCESS", "PAP", "200000000001")
    assert ledger(sim, "W-w1")["attach"] == "cart-7" and ledger(sim, "W-w1")["money_taken_minor"] == 500


# signatures -----------------------------------------------------------------------------------
def test_a_request_signed_with_the_wrong_key_is_refused(sim: WeChatPaySimulator) -> None:
    error = refused(micropay, make_client(sim, api_key="f" * 32), "W-forged", code())
    assert (error.return_code, error.return_msg) == ("FAIL", "签名错误")
    assert sim.trades() == [] and sim.stats()["signatures_refused"] == 1


def test_hmac_sha256_requests_get_hmac_signed_answers(
    sim: WeChatPaySimulator, wechat: Any, box: NotifyReceiver
) -> None:
    answer = order(wechat, "W-hmac", box.url, sign_type="HMAC-SHA256")
    fields = {k: v for k, v in answer.items() if k != "sign"}
    assert answer["sign"] == calculate_signature_hmac(fields, API_KEY) and not wechat.check_signature(answer)


def test_notifications_verify_and_forged_ones_do_not(sim: WeChatPaySimulator, wechat: Any, box: NotifyReceiver) -> None:
    order(wechat, "W-app", box.url)
    delivery = sim.shopper_pays("W-app")
    assert delivery.done.wait(5) and delivery.acknowledged
    (genuine,) = box.bodies()
    paid = wechat.parse_payment_result(genuine)
    assert (paid["result_code"], paid["total_fee"], paid["attach"], paid["mch_id"]) == (
        "SUCCESS",
        800,
        "cart-9",
        MCH_ID,
    )
    assert sim.forge_notification("W-app", box.url)[0] == 200
    with pytest.raises(InvalidSignatureException):
        wechat.parse_payment_result(box.bodies()[1])
    sim.replay_last_notification()
    assert box.bodies()[2] == genuine


def test_an_unacknowledged_notification_is_retried(sim: WeChatPaySimulator, wechat: Any) -> None:
    with NotifyReceiver(lambda body: "<xml><return_code>FAIL</return_code></xml>") as grumpy:
        order(wechat, "W-grumpy", grumpy.url)
        delivery = sim.shopper_pays("W-grumpy")
        assert delivery.done.wait(5) and not delivery.acknowledged and len(grumpy.bodies()) == 4
    assert sim.stats()["notifications_unacknowledged"] == 1


def test_latency_and_the_control_api() -> None:
    with WeChatPaySimulator(APPID, MCH_ID, API_KEY, latency_ms=150) as slow:
        client = make_client(slow)
        started = time.monotonic()
        refused(client.order.query, out_trade_no="W-nothing")
        assert time.monotonic() - started >= 0.15
        auth_code = code()
        request = urllib.request.Request(
            slow.url + "_sim/script", data=json.dumps({"key": auth_code, "outcome": "decline"}).encode()
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read()) == {"ok": True}
        assert refused(micropay, client, "W-ctl", auth_code).errcode == "NOTENOUGH"
        with urllib.request.urlopen(slow.url + "_sim/ledger", timeout=5) as response:
            (trade,) = json.loads(response.read())["trades"]
        assert (trade["out_trade_no"], trade["status"], trade["state"]) == ("W-ctl", "PAYERROR", "closed")
