"""Wallet codes and amounts as the rails see them: routing by prefix and yuan <-> fen, exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.checkout.rails import fen, is_payment_code, rail_for_code, yuan
from edge.checkout.railsetup import RailStatus, rail_status
from edge.checkout.settings import CheckoutSettings
from edge.platform.errors import InvalidInput
from edge.platform.security import SecretStore


@pytest.mark.parametrize(
    ("code", "rail"),
    [("101234567890123456", "wechatpay"), ("151234567890123456", "wechatpay"), ("251234567890123456", "alipay"),
     ("301234567890123456", "alipay"), (" 281234567890123456 ", "alipay")],
)  # fmt: skip
def test_a_wallet_code_goes_to_its_rail_by_prefix(code: str, rail: str) -> None:
    assert rail_for_code(code) == rail and is_payment_code(code)


@pytest.mark.parametrize(
    ("code", "why"),
    [("091234567890123456", "unsupported_wallet"), ("161234567890123456", "unsupported_wallet"),
     ("241234567890123456", "unsupported_wallet"), ("311234567890123456", "unsupported_wallet"),
     ("28123456789012345", "bad_payment_code"), ("28123456789012345a", "bad_payment_code"),
     ("２８１２３４５６７８９０１２３４５６", "bad_payment_code"), (None, "bad_payment_code")],
)  # fmt: skip
def test_anything_else_is_refused_with_a_reason(code: str | None, why: str) -> None:
    with pytest.raises(InvalidInput) as err:
        rail_for_code(code)
    assert err.value.code == why and not is_payment_code(code)


def test_amounts_are_exact_both_ways() -> None:
    assert [yuan(m) for m in (0, 1, 10, 1230, 100000)] == ["0.00", "0.01", "0.10", "12.30", "1000.00"]
    assert [fen(t) for t in ("0.01", "12.30", "12.3", "1000", "7.10")] == [1, 1230, 1230, 100000, 710]
    assert [fen(t) for t in ("12.345", "-1.00", "abc", "", "NaN", "1e3x", "Infinity")] == [None] * 7
    assert all(fen(yuan(m)) == m for m in range(0, 100000, 137))


def test_a_rail_reached_without_tls_is_not_ready_unless_it_is_on_this_box(tmp_path: Path) -> None:
    secrets = SecretStore(tmp_path)
    for name in ("alipay_app_private_key", "alipay_public_key"):
        (tmp_path / "secrets").mkdir(exist_ok=True)
        (tmp_path / "secrets" / name).write_text("pem")
    ali = {"app_id": "2021000000000001"}
    remote = CheckoutSettings(rails={"alipay": {**ali, "gateway_url": "http://gateway.example/gateway.do"}})
    assert rail_status(remote, secrets)["alipay"] == RailStatus(
        "incomplete", "http://gateway.example/gateway.do is not https"
    )
    local = CheckoutSettings(rails={"alipay": {**ali, "gateway_url": "http://127.0.0.1:9/gateway.do"}})
    assert rail_status(local, secrets)["alipay"].state == "ready"
    assert rail_status(CheckoutSettings(rails={"alipay": ali}), secrets)["alipay"].state == "ready"
