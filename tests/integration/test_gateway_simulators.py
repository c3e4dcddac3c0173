"""The Alipay simulator, driven only through the real python-alipay-sdk and the /_sim/ control API.

Every scripted behaviour has a test, and so has each way a signature can be wrong: a box signing
with the wrong key is refused, a gateway answer under the wrong key fails the SDK's check, and a
forged notification does not verify. (The WeChat Pay simulator's tests are in the _wechat module.)
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl

import pytest
from alipay import AliPay  # type: ignore[import-untyped]
from alipay.exceptions import AliPayException, AliPayValidationError  # type: ignore[import-untyped]
from alipay.utils import AliPayConfig  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cloud.gateways import AlipaySimulator, Behaviour, new_rsa_pair
from tests.support.gateway_box import NotifyReceiver
from tests.support.services import ROOT
from tests.support.waits import wait_for

APP_ID = "2021000000000001"
_codes = itertools.count(1)


def code() -> str:
    """A fresh, well-formed Alipay payment code (18 digits starting 25..30)."""
    return f"28{next(_codes):016d}"


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    gateway, app, stranger = new_rsa_pair(), new_rsa_pair(), new_rsa_pair()
    return {
        "gateway_private": gateway[0],
        "gateway_public": gateway[1],
        "app_private": app[0],
        "app_public": app[1],
        "stranger_private": stranger[0],
        "stranger_public": stranger[1],
    }


@pytest.fixture
def sim(keys: dict[str, str]) -> Iterator[AlipaySimulator]:
    with AlipaySimulator(APP_ID, keys["app_public"], keys["gateway_private"]) as simulator:
        simulator.notifier.retry_interval = 0.05  # the box's retries, quickly
        yield simulator


def make_client(sim: AlipaySimulator, private: str, gateway_public: str, timeout: float = 5) -> Any:
    client = AliPay(
        appid=APP_ID,
        app_private_key_string=private,
        alipay_public_key_string=gateway_public,
        sign_type="RSA2",
        config=AliPayConfig(timeout=timeout),
    )
    client._gateway = sim.url
    return client


@pytest.fixture
def alipay(sim: AlipaySimulator, keys: dict[str, str]) -> Any:
    return make_client(sim, keys["app_private"], keys["gateway_public"])


@pytest.fixture
def box() -> Iterator[NotifyReceiver]:
    with NotifyReceiver(lambda body: "success") as receiver:
        yield receiver


def pay(alipay: Any, out_trade_no: str, auth_code: str, amount: str = "12.30") -> dict[str, Any]:
    return dict(
        alipay.api_alipay_trade_pay(
            out_trade_no, "bar_code", auth_code, "groceries", total_amount=amount, body="cart-1"
        )
    )


def status(alipay: Any, out_trade_no: str) -> str:
    return str(alipay.api_alipay_trade_query(out_trade_no=out_trade_no).get("trade_status", "none"))


def ledger(sim: AlipaySimulator, out_trade_no: str) -> dict[str, Any]:
    found = sim.trade(out_trade_no)
    assert found is not None, f"no trade {out_trade_no} in the ledger"
    return found


def verified(alipay: Any, body: bytes) -> bool:
    data = dict(parse_qsl(body.decode()))
    return bool(alipay.verify(data, data.pop("sign")))


def precreate(alipay: Any, out_trade_no: str, notify_url: str) -> dict[str, Any]:
    return dict(
        alipay.api_alipay_trade_precreate("app order", out_trade_no, "8.00", notify_url=notify_url, body="cart-9")
    )


# behaviours -----------------------------------------------------------------------------------
def test_success_pays_at_once(sim: AlipaySimulator, alipay: Any) -> None:
    answer = pay(alipay, "A-ok", code())
    assert answer["code"] == "10000" and answer["total_amount"] == "12.30" and answer["trade_no"]
    assert status(alipay, "A-ok") == "TRADE_SUCCESS"
    trade = ledger(sim, "A-ok")
    assert (trade["amount_minor"], trade["state"], trade["attach"], trade["pay_calls"]) == (1230, "paid", "cart-1", 1)
    assert trade["money_taken_minor"] == 1230


def test_wait_pays_after_the_seconds(sim: AlipaySimulator, alipay: Any) -> None:
    auth_code = code()
    sim.script(auth_code, Behaviour("wait", 0.3))
    answer = pay(alipay, "A-wait", auth_code)
    assert (answer["code"], answer["msg"]) == ("10003", "order success pay inprocess")
    assert status(alipay, "A-wait") == "WAIT_BUYER_PAY"
    wait_for(lambda: status(alipay, "A-wait"), 5, "the shopper to confirm", until=lambda s: s == "TRADE_SUCCESS")
    assert ledger(sim, "A-wait")["money_taken_minor"] == 1230


def test_wait_forever_stays_waiting_until_cancelled(sim: AlipaySimulator, alipay: Any) -> None:
    auth_code = code()
    sim.script(auth_code, Behaviour("wait_forever"))
    assert pay(alipay, "A-never", auth_code)["code"] == "10003"
    assert status(alipay, "A-never") == "WAIT_BUYER_PAY"
    cancelled = alipay.api_alipay_trade_cancel(out_trade_no="A-never")
    assert (cancelled["code"], cancelled["action"], cancelled["retry_flag"]) == ("10000", "close", "N")
    assert status(alipay, "A-never") == "TRADE_CLOSED"
    assert ledger(sim, "A-never")["money_taken_minor"] == 0


def test_decline_takes_nothing(sim: AlipaySimulator, alipay: Any) -> None:
    auth_code = code()
    sim.script(auth_code, Behaviour("decline"))
    answer = pay(alipay, "A-poor", auth_code)
    assert (answer["code"], answer["sub_code"]) == ("40004", "ACQ.BUYER_BALANCE_NOT_ENOUGH")
    assert status(alipay, "A-poor") == "TRADE_CLOSED"
    assert ledger(sim, "A-poor")["money_taken_minor"] == 0


def test_expired_and_malformed_codes_are_refused(sim: AlipaySimulator, alipay: Any) -> None:
    auth_code = code()
    sim.script(auth_code, Behaviour("expired_code"))
    for out_trade_no, payment_code in (("A-old", auth_code), ("A-bad", "130000000000000001"), ("A-short", "2812")):
        answer = pay(alipay, out_trade_no, payment_code)
        assert (answer["code"], answer["sub_code"]) == ("40004", "ACQ.PAYMENT_AUTH_CODE_INVALID")
        assert alipay.api_alipay_trade_query(out_trade_no=out_trade_no)["sub_code"] == "ACQ.TRADE_NOT_EXIST"
        assert sim.pay_calls(out_trade_no) == 1
    assert sim.trades() == []


def test_timeout_pays_but_the_client_gives_up(sim: AlipaySimulator, keys: dict[str, str]) -> None:
    impatient = make_client(sim, keys["app_private"], keys["gateway_public"], timeout=0.3)
    auth_code = code()
    sim.script(auth_code, Behaviour("timeout", 3.0))
    with pytest.raises((TimeoutError, URLError)):
        pay(impatient, "A-slow", auth_code)
    assert status(impatient, "A-slow") == "TRADE_SUCCESS"  # the money moved although no answer came
    assert impatient.api_alipay_trade_cancel(out_trade_no="A-slow")["action"] == "refund"
    assert ledger(sim, "A-slow")["money_taken_minor"] == 0


def test_error500_pays_but_answers_html(sim: AlipaySimulator, alipay: Any) -> None:
    auth_code = code()
    sim.script(auth_code, Behaviour("error500"))
    with pytest.raises(HTTPError) as raised:
        pay(alipay, "A-500", auth_code)
    assert raised.value.code == 500 and b"<html>" in raised.value.read()
    assert status(alipay, "A-500") == "TRADE_SUCCESS"


def test_system_error_pays_but_answers_20000_signed(sim: AlipaySimulator, alipay: Any) -> None:
    auth_code = code()
    sim.script(auth_code, Behaviour("system_error"))
    answer = pay(alipay, "A-sys", auth_code)  # the SDK verified the signature to return this
    assert (answer["code"], answer["sub_code"]) == ("20000", "ACQ.SYSTEM_ERROR")
    assert ledger(sim, "A-sys")["state"] == "paid"


def test_lose_notification(sim: AlipaySimulator, alipay: Any, box: NotifyReceiver) -> None:
    sim.script("A-lost", Behaviour("lose_notification"))
    precreate(alipay, "A-lost", box.url)
    delivery = sim.shopper_pays("A-lost")
    assert delivery.done.wait(5) and delivery.answers == [] and not delivery.acknowledged
    assert box.bodies() == [] and sim.stats()["notifications_lost"] == 1
    assert status(alipay, "A-lost") == "TRADE_SUCCESS"  # only a query tells the box


def test_duplicate_notification(sim: AlipaySimulator, alipay: Any, box: NotifyReceiver) -> None:
    sim.script("A-twice", Behaviour("duplicate_notification"))
    precreate(alipay, "A-twice", box.url)
    assert sim.shopper_pays("A-twice").done.wait(5)
    first, second = box.bodies()
    assert first == second and verified(alipay, first)
    assert sim.stats()["notifications_acknowledged"] == 2


# protocol ---------------------------------------------------------------------------------------
def test_repeated_pay_is_refused_and_counted(sim: AlipaySimulator, alipay: Any) -> None:
    pay(alipay, "A-dup", code())
    again = pay(alipay, "A-dup", code())
    assert (again["code"], again["sub_code"]) == ("40004", "ACQ.TRADE_HAS_SUCCESS")
    assert ledger(sim, "A-dup")["pay_calls"] == 2 and ledger(sim, "A-dup")["money_taken_minor"] == 1230


def test_refunds_are_idempotent_and_bounded(sim: AlipaySimulator, alipay: Any) -> None:
    pay(alipay, "A-ref", code())
    first = alipay.api_alipay_trade_refund("2.30", out_trade_no="A-ref", out_request_no="r1")
    assert (first["code"], first["fund_change"], first["refund_fee"]) == ("10000", "Y", "2.30")
    repeat = alipay.api_alipay_trade_refund("2.30", out_trade_no="A-ref", out_request_no="r1")
    assert (repeat["fund_change"], repeat["refund_fee"]) == ("N", "2.30")
    too_much = alipay.api_alipay_trade_refund("10.01", out_trade_no="A-ref", out_request_no="r2")
    assert too_much["sub_code"] == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    rest = alipay.api_alipay_trade_refund("10.00", out_trade_no="A-ref", out_request_no="r3")
    assert rest["refund_fee"] == "12.30" and status(alipay, "A-ref") == "TRADE_CLOSED"
    assert alipay.api_alipay_trade_fastpay_refund_query("r1", out_trade_no="A-ref")["refund_status"] == "REFUND_SUCCESS"
    assert "refund_status" not in alipay.api_alipay_trade_fastpay_refund_query("r2", out_trade_no="A-ref")
    trade = ledger(sim, "A-ref")
    assert trade["refunds"][:2] == [
        {"out_request_no": "r1", "amount_minor": 230, "via": "refund"},
        {"out_request_no": "r3", "amount_minor": 1000, "via": "refund"},
    ]
    assert trade["money_taken_minor"] == 0
    waiting = code()
    sim.script(waiting, Behaviour("wait_forever"))
    pay(alipay, "A-unpaid", waiting)
    unpaid = alipay.api_alipay_trade_refund("1.00", out_trade_no="A-unpaid", out_request_no="r4")
    assert unpaid["sub_code"] == "ACQ.TRADE_STATUS_ERROR"


def test_cancel_of_an_unknown_trade_blocks_a_late_pay(sim: AlipaySimulator, alipay: Any) -> None:
    assert alipay.api_alipay_trade_cancel(out_trade_no="A-ghost")["action"] == "close"
    late = pay(alipay, "A-ghost", code())
    assert (late["code"], late["sub_code"]) == ("40004", "ACQ.TRADE_HAS_CLOSE")
    assert ledger(sim, "A-ghost")["money_taken_minor"] == 0


def test_a_closed_qr_order_cannot_be_paid(sim: AlipaySimulator, alipay: Any, box: NotifyReceiver) -> None:
    answer = precreate(alipay, "A-qr", box.url)
    assert answer["qr_code"].startswith("https://qr.alipay.com/sim-") and status(alipay, "A-qr") == "WAIT_BUYER_PAY"
    assert alipay.api_alipay_trade_close(out_trade_no="A-qr")["code"] == "10000"
    with pytest.raises(ValueError):
        sim.shopper_pays("A-qr")
    assert status(alipay, "A-qr") == "TRADE_CLOSED"


def test_withholding_needs_a_registered_agreement(sim: AlipaySimulator, alipay: Any) -> None:
    def withhold(out_trade_no: str, agreement_no: str) -> dict[str, Any]:
        biz = {"out_trade_no": out_trade_no, "product_code": "GENERAL_WITHHOLDING", "total_amount": "5.00",
               "subject": "face pay", "body": "cart-7", "agreement_params": {"agreement_no": agreement_no}}  # fmt: skip
        return dict(alipay.server_api("alipay.trade.pay", biz_content=biz))

    assert withhold("A-w0", "20215000000001")["sub_code"] == "ACQ.AGREEMENT_NOT_EXIST"
    sim.add_agreement("20215000000001")
    assert withhold("A-w1", "20215000000001")["code"] == "10000"
    assert ledger(sim, "A-w1")["kind"] == "withhold" and ledger(sim, "A-w1")["money_taken_minor"] == 500
    sim.add_agreement("20215000000002")
    sim.script("20215000000002", Behaviour("decline"))
    assert withhold("A-w2", "20215000000002")["sub_code"] == "ACQ.BUYER_BALANCE_NOT_ENOUGH"


# signatures -----------------------------------------------------------------------------------
def test_a_request_signed_with_the_wrong_key_is_refused_unsigned(sim: AlipaySimulator, keys: dict[str, str]) -> None:
    impostor = make_client(sim, keys["stranger_private"], keys["gateway_public"])
    with pytest.raises(AliPayException) as raised:
        pay(impostor, "A-forged", code())
    doc = json.loads(str(raised.value).split("message:", 1)[1])
    assert "sign" not in doc
    assert (doc["alipay_trade_pay_response"]["code"], doc["alipay_trade_pay_response"]["sub_code"]) == (
        "40002",
        "isv.invalid-signature",
    )
    assert sim.trades() == [] and sim.stats()["signatures_refused"] == 1


def test_answers_fail_the_sdk_check_under_another_gateway_key(sim: AlipaySimulator, keys: dict[str, str]) -> None:
    suspicious = make_client(sim, keys["app_private"], keys["stranger_public"])
    with pytest.raises(AliPayValidationError):
        suspicious.api_alipay_trade_query(out_trade_no="A-any")


def test_notifications_verify_and_forged_ones_do_not(sim: AlipaySimulator, alipay: Any, box: NotifyReceiver) -> None:
    precreate(alipay, "A-app", box.url)
    delivery = sim.shopper_pays("A-app")
    assert delivery.done.wait(5) and delivery.acknowledged and delivery.answers == [(200, "success")]
    (genuine,) = box.bodies()
    fields = dict(parse_qsl(genuine.decode()))
    assert (fields["trade_status"], fields["total_amount"], fields["body"], fields["app_id"]) == (
        "TRADE_SUCCESS",
        "8.00",
        "cart-9",
        APP_ID,
    )
    assert verified(alipay, genuine)
    assert sim.forge_notification("A-app", box.url, amount_minor=1) == (200, "success")
    assert not verified(alipay, box.bodies()[1])
    assert sim.replay_last_notification() == (200, "success")
    assert box.bodies()[2] == genuine
    counts = sim.stats()
    assert (counts["notifications_forged"], counts["notifications_replayed"]) == (1, 1)


def test_an_unacknowledged_notification_is_retried(sim: AlipaySimulator, alipay: Any) -> None:
    with NotifyReceiver(lambda body: "fail") as grumpy:
        precreate(alipay, "A-grumpy", grumpy.url)
        delivery = sim.shopper_pays("A-grumpy")
        assert delivery.done.wait(5) and not delivery.acknowledged
        assert len(grumpy.bodies()) == 4  # the first try and three retries
    assert sim.stats()["notifications_unacknowledged"] == 1


# latency, control API, command line ---------------------------------------------------------------
def test_latency_applies_to_every_call(keys: dict[str, str]) -> None:
    with AlipaySimulator(APP_ID, keys["app_public"], keys["gateway_private"], latency_ms=150) as slow:
        client = make_client(slow, keys["app_private"], keys["gateway_public"])
        started = time.monotonic()
        client.api_alipay_trade_query(out_trade_no="A-nothing")
        assert time.monotonic() - started >= 0.15


def call(url: str, doc: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if doc is None else json.dumps(doc).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_control_api_scripts_pays_and_reports(sim: AlipaySimulator, alipay: Any, box: NotifyReceiver) -> None:
    control = sim.base_url + "/_sim/"
    auth_code = code()
    assert call(control + "script", {"key": auth_code, "outcome": "decline"}) == (200, {"ok": True})
    assert call(control + "script", {"key": auth_code, "outcome": "maybe"})[0] == 400
    assert pay(alipay, "A-ctl", auth_code)["sub_code"] == "ACQ.BUYER_BALANCE_NOT_ENOUGH"
    precreate(alipay, "A-ctl-app", box.url)
    code_, answer = call(control + "pay", {"out_trade_no": "A-ctl-app"})
    assert code_ == 200 and answer["trade"]["state"] == "paid"
    assert call(control + "pay", {"out_trade_no": "A-ctl-app"})[0] == 409
    assert call(control + "pay", {"out_trade_no": "A-nope"})[0] == 404
    wait_for(box.bodies, 5, "the notification")
    code_, doc = call(control + "ledger")
    assert code_ == 200 and {t["out_trade_no"]: t["state"] for t in doc["trades"]} == {
        "A-ctl": "closed",
        "A-ctl-app": "paid",
    }
    assert doc["stats"]["pay_calls"] == 1


def test_command_line_makes_keys_and_says_where_it_listens(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "cloud.gateways", "--dir", str(tmp_path)], cwd=ROOT, env=env)
    try:
        where = tmp_path / "gateways.json"
        wait_for(where.exists, 20, "gateways.json")
        doc = json.loads(where.read_text())
        assert len((tmp_path / "wechat_api_key").read_text().strip()) == 32
        made = serialization.load_pem_private_key((tmp_path / "alipay_app_private.pem").read_bytes(), None)
        assert isinstance(made, rsa.RSAPrivateKey) and made.key_size == 2048  # a real key, made on the spot
        client = AliPay(
            appid=doc["alipay"]["app_id"],
            app_private_key_string=(tmp_path / "alipay_app_private.pem").read_text(),
            alipay_public_key_string=(tmp_path / "alipay_gateway_public.pem").read_text(),
        )
        client._gateway = doc["alipay"]["url"]
        assert client.api_alipay_trade_query(out_trade_no="nothing")["sub_code"] == "ACQ.TRADE_NOT_EXIST"
        assert doc["wechat"]["url"].endswith("/") and doc["wechat"]["mch_id"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert not (tmp_path / "gateways.json").exists()
