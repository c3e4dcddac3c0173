"""Payment providers on the sandbox network: idempotent keys, timeouts, refunds, production refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.app import prepare_storage
from edge.checkout.component import CheckoutComponent
from edge.checkout.payments import (
    Outcome,
    PaymentDeclined,
    PaymentFailed,
    PaymentTimeout,
    SandboxNetwork,
    Simulation,
)
from edge.checkout.providers import QrProvider, SandboxProvider, is_payment_code
from edge.platform.errors import EdgeError
from tests.support.inproc import settings_for


@pytest.fixture
def net(tmp_path: Path) -> SandboxNetwork:
    return SandboxNetwork(tmp_path / "acquirer.db")


def test_the_same_key_never_charges_twice(net: SandboxNetwork) -> None:
    p = SandboxProvider(net)
    ref1 = p.authorize("k1", order_ref="s1", amount_minor=500, currency="CNY", credential=None)
    ref2 = p.authorize("k1", order_ref="s1", amount_minor=500, currency="CNY", credential=None)
    assert ref1 == ref2
    p.capture("k1")
    p.capture("k1")  # a retried capture is a no-op
    state = p.query("k1")
    assert (state.status, state.amount_minor) == ("captured", 500)


def test_timeout_leaves_a_hold_that_query_finds_and_reverse_releases(net: SandboxNetwork) -> None:
    p = SandboxProvider(net)
    with pytest.raises(PaymentTimeout):
        p.authorize(
            "k2", order_ref="s2", amount_minor=700, currency="CNY", credential=None, simulation=Simulation("timeout")
        )
    assert p.query("k2").status == "authorized"
    assert p.reverse("k2").status == "reversed"
    with pytest.raises(PaymentFailed):
        p.capture("k2")  # a reversed hold can never be taken


@pytest.mark.parametrize(("outcome", "error"), [("decline", PaymentDeclined), ("fail", PaymentFailed)])
def test_declines_and_failures_take_nothing(net: SandboxNetwork, outcome: Outcome, error: type[EdgeError]) -> None:
    p = SandboxProvider(net)
    with pytest.raises(error):
        p.authorize(
            "k3", order_ref="s3", amount_minor=100, currency="CNY", credential=None, simulation=Simulation(outcome)
        )
    assert p.query("k3").status == "absent"


def test_partial_then_full_refund(net: SandboxNetwork) -> None:
    p = SandboxProvider(net)
    p.authorize("k4", order_ref="s4", amount_minor=1000, currency="CNY", credential=None)
    p.capture("k4")
    assert p.reverse("k4", 300).refunded_minor == 300
    with pytest.raises(PaymentFailed):
        p.reverse("k4", 800)
    final = p.reverse("k4")
    assert (final.status, final.refunded_minor) == ("refunded", 1000)


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("134567890123456789", True),
        ("281234567890123456", True),
        ("301234567890123456", True),
        ("991234567890123456", False),
        ("13456789012345678", False),
        ("13456789012345678x", False),
        ("", False),
    ],
)
def test_wallet_payment_codes(code: str, ok: bool) -> None:
    assert is_payment_code(code) is ok


def test_qr_provider_refuses_a_bad_code_before_touching_the_network(net: SandboxNetwork) -> None:
    with pytest.raises(EdgeError) as err:
        QrProvider(net).authorize("k5", order_ref="s5", amount_minor=1, currency="CNY", credential="12")
    assert err.value.code == "bad_payment_code"
    assert net.query("k5").status == "absent"


def test_production_mode_refuses_the_sandbox(tmp_path: Path) -> None:
    from edge.app import build_context

    settings = settings_for(tmp_path / "data", {"checkout": {"mode": "production"}})
    ctx = build_context(settings, prepare_storage(settings))
    comp = CheckoutComponent(ctx)
    with pytest.raises(EdgeError) as err:
        comp.services.checkout.provider("sandbox")
    assert (err.value.status, err.value.code) == (503, "sandbox_refused")
    with pytest.raises(EdgeError) as err:
        comp.services.checkout.provider("qr").authorize(
            "k6", order_ref="s6", amount_minor=1, currency="CNY", credential="134567890123456789"
        )
    assert err.value.code == "no_acquirer"


def test_a_repeated_refund_key_moves_money_once(net: SandboxNetwork) -> None:
    """A refund retried with its own key (after a lost answer or a failed write) is not paid out again."""
    p = SandboxProvider(net)
    p.authorize("k7", order_ref="s7", amount_minor=1000, currency="CNY", credential=None)
    p.capture("k7")
    assert p.reversal("k7", "r1") is None  # never sent
    first = p.reverse("k7", 300, idempotency_key="r1")
    again = p.reverse("k7", 300, idempotency_key="r1")
    assert first == again and (again.status, again.refunded_minor) == ("captured", 300)
    assert p.query("k7").refunded_minor == 300
    assert p.reversal("k7", "r1") == first
    assert p.reverse("k7", 200, idempotency_key="r2").refunded_minor == 500  # another refund is another key
    assert [r["idempotency_key"] for r in net.reversals("k7")] == ["r1", "r2"]
    p.authorize("k8", order_ref="s8", amount_minor=100, currency="CNY", credential=None)
    with pytest.raises(PaymentFailed) as err:
        p.reverse("k8", idempotency_key="r1")  # a key names one refund of one payment
    assert err.value.code == "refund_key_reused"
    assert p.query("k8").status == "authorized"


def test_a_refused_refund_records_nothing_under_its_key(net: SandboxNetwork) -> None:
    p = SandboxProvider(net)
    p.authorize("k9", order_ref="s9", amount_minor=500, currency="CNY", credential=None)
    p.capture("k9")
    with pytest.raises(PaymentFailed):
        p.reverse("k9", 900, idempotency_key="r9")
    assert p.reversal("k9", "r9") is None and p.query("k9").refunded_minor == 0
