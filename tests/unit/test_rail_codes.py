"""Wallet codes and amounts as the rails see them: routing by prefix and yuan <-> fen, exactly."""

from __future__ import annotations

import pytest

from edge.checkout.rails import fen, is_payment_code, rail_for_code, yuan
from edge.platform.errors import InvalidInput


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
