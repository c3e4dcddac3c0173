"""Money safety when things break: refunds and voids paid out once, unknown payment errors and
failed order commits never leave a hold behind, and what a typed phone number may reveal.

The real app (in-process, SQLite files, the sandbox acquirer's own ledger file). Faults are
injected at the edges: the sandbox network is wrapped so a reply is lost or the network cannot
be reached (the network itself is the simulator, unchanged), and the store's database write is
made to fail the way a full disk or a bug would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from edge.app import Daemon
from edge.checkout.catalog import import_products
from edge.checkout.models import Order, OrderLine, PaymentIntent, Refund
from edge.checkout.payments import SANDBOX_DB, ChargeState, PaymentProvider, PaymentTimeout, SandboxNetwork
from edge.checkout.service import CheckoutServices
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from edge.platform import outbox
from edge.platform.outbox import OutboxEvent
from edge.platform.timeutil import utcnow
from tests.support.inproc import device_headers, running_app, staff_headers
from tests.support.waits import wait_for

TEA = GROCERY[0][0]  # 29.90
MILK = GROCERY[1][0]


@dataclass
class Faults:
    authorize_after: Exception | None = None  # the network took the hold, then this reached the store
    query: Exception | None = None  # the network cannot be asked
    reverse_before: Exception | None = None  # the call never reached the network
    reverse_after: Exception | None = None  # the network applied it, the answer was lost
    reversal: Exception | None = None  # a refund's key cannot be looked up


class Flaky:
    """The real sandbox provider behind a bad line: the simulated network still keeps the books."""

    def __init__(self, real: PaymentProvider, faults: Faults) -> None:
        self.real, self.f, self.name = real, faults, real.name

    def authorize(self, key: str, **kw: Any) -> str:
        ref = self.real.authorize(key, **kw)
        if self.f.authorize_after:
            raise self.f.authorize_after
        return ref

    def capture(self, key: str) -> None:
        self.real.capture(key)

    def reverse(self, key: str, amount_minor: int | None = None, *, idempotency_key: str | None = None) -> ChargeState:
        if self.f.reverse_before:
            raise self.f.reverse_before
        state = self.real.reverse(key, amount_minor, idempotency_key=idempotency_key)
        if self.f.reverse_after:
            raise self.f.reverse_after
        return state

    def query(self, key: str) -> ChargeState:
        if self.f.query:
            raise self.f.query
        return self.real.query(key)

    def reversal(self, key: str, idempotency_key: str) -> ChargeState | None:
        if self.f.reversal:
            raise self.f.reversal
        return self.real.reversal(key, idempotency_key)


@contextmanager
def flaky(daemon: Daemon, faults: Faults) -> Iterator[None]:
    providers = daemon.ctx.own(CheckoutServices).checkout.providers  # one dict: checkout, capture, refunds
    real = providers["sandbox"]
    providers["sandbox"] = Flaky(real, faults)
    try:
        yield
    finally:
        providers["sandbox"] = real


@contextmanager
def failing_write(kind: str, exc: Exception) -> Iterator[None]:
    """The transaction that writes an outbox row of this kind fails (disk full, a bug): all of it rolls back."""
    real = outbox.add

    def add(session: Any, stream: str, k: str, payload: dict[str, Any], schema_version: int = 1) -> str:
        if k == kind:
            raise exc
        return real(session, stream, k, payload, schema_version)

    outbox.add = add  # type: ignore[assignment]
    try:
        yield
    finally:
        outbox.add = real  # type: ignore[assignment]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with money_store(Path(tmp_path_factory.mktemp("money")) / "data") as st:
        yield st


@contextmanager
def money_store(data: Path, overrides: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """The real app with the demo catalog, a kiosk, a gate and a staff login."""
    with running_app(data, {"checkout": {"orphan_hold_after_s": 60}, **(overrides or {})}) as (client, daemon):
        assert not import_products(daemon.ctx.store, demo_rows("CNY")).refused
        yield {
            "client": client,
            "daemon": daemon,
            "data": data,
            "kiosk": device_headers(daemon, "kiosk-m", "kiosk"),
            "gate": device_headers(daemon, "gate-m", "gate"),
            "staff": staff_headers(daemon),
        }


def network(st: dict[str, Any]) -> SandboxNetwork:
    return SandboxNetwork(Path(st["data"]) / SANDBOX_DB)


def cart(st: dict[str, Any], code: str = TEA, qty: int = 1) -> str:
    c = st["client"]
    sid = str(c.post("/api/kiosk/sessions", json={}, headers=st["kiosk"]).json()["session_id"])
    r = c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": code, "qty": qty}, headers=st["kiosk"])
    assert r.status_code == 201, r.text
    return sid


def checkout(st: dict[str, Any], sid: str) -> Any:
    return st["client"].post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=st["kiosk"])


def paid_order(st: dict[str, Any], qty: int = 3, captured: bool = True) -> tuple[str, str]:
    """(order id, payment key) of a paid cart of `qty` teas; captured unless told otherwise."""
    sid = cart(st, TEA, qty)
    r = checkout(st, sid)
    assert r.status_code == 200, r.text
    oid, key = r.json()["order_id"], r.json()["payment"]["id"]
    if captured:
        wait_for(lambda: (network(st).query(key).status, intent(st, key).status), 10,
                 f"payment {key} captured at the network and on the box",
                 until=lambda both: both == ("captured", "captured"))  # fmt: skip
    return oid, key


def intent(st: dict[str, Any], key: str) -> PaymentIntent:
    with st["daemon"].ctx.store.read() as s:
        it = s.get(PaymentIntent, key)
    assert it is not None
    return it


def refund(st: dict[str, Any], oid: str, body: dict[str, Any]) -> Any:
    return st["client"].post(f"/api/checkout/orders/{oid}/refund", json=body, headers=st["staff"])


def outbox_kinds(st: dict[str, Any], kind: str, oid: str) -> int:
    with st["daemon"].ctx.store.read() as s:
        rows = s.exec(select(OutboxEvent).where(OutboxEvent.kind == kind)).all()
    return sum(1 for e in rows if oid in e.payload)


# --- 1. refunds and voids are paid out once --------------------------------------------------
def test_a_partial_refund_retried_after_its_record_failed_pays_out_once(store: dict[str, Any]) -> None:
    oid, key = paid_order(store)
    one_tea = {"lines": [{"line_no": 1, "qty": 1}], "reason": "dented"}
    with failing_write("order.refunded", sqlite3.OperationalError("database or disk is full")):
        r = refund(store, oid, one_tea)
    assert (r.status_code, r.json()["error"]["code"]) == (502, "refund_pending")  # not a stack trace
    assert network(store).query(key).refunded_minor == 2990  # the money went back ...
    r = refund(store, oid, one_tea)  # ... and staff press again
    assert r.status_code == 200, r.text
    assert (r.json()["amount_minor"], r.json()["replayed"], r.json()["status"]) == (2990, True, "partially_refunded")
    assert network(store).query(key).refunded_minor == 2990, "the retry paid out a second time"
    with store["daemon"].ctx.store.read() as s:
        order = s.get(Order, oid)
        line = s.exec(select(OrderLine).where(OrderLine.order_id == oid)).one()
        assert order is not None and order.refunded_minor == 2990 and line.refunded_qty == 1
        assert [r.status for r in s.exec(select(Refund).where(Refund.order_id == oid))] == ["done"]
    assert outbox_kinds(store, "order.refunded", oid) == 1
    assert len(store["client"].get(f"/api/orders/{oid}/receipt", headers=store["kiosk"]).json()["refunds"]) == 1
    # a second unit is a second refund, and the rest is exact
    assert refund(store, oid, one_tea).json()["amount_minor"] == 2990
    assert refund(store, oid, {}).json()["amount_minor"] == 2990
    assert network(store).query(key).refunded_minor == 3 * 2990


def test_a_refund_whose_answer_is_lost_stays_pending_and_is_never_paid_twice(store: dict[str, Any]) -> None:
    oid, key = paid_order(store, qty=2)
    with flaky(store["daemon"], Faults(reverse_after=PaymentTimeout("no answer"))):
        r = refund(store, oid, {})
    assert (r.status_code, r.json()["error"]["code"]) == (502, "refund_pending")
    assert "Do not pay it out" in r.json()["error"]["message"]
    assert network(store).query(key).refunded_minor == 5980
    down = ConnectionResetError("network down")
    with flaky(store["daemon"], Faults(reverse_before=down, reversal=down)):
        r = refund(store, oid, {"lines": [{"line_no": 1, "qty": 1}]})  # no other refund starts meanwhile
    assert (r.status_code, r.json()["error"]["code"]) == (502, "refund_pending")
    r = refund(store, oid, {})  # the network is back: the same request finds its refund by key
    assert r.status_code == 200, r.text
    assert (r.json()["amount_minor"], r.json()["status"], r.json()["replayed"]) == (5980, "refunded", True)
    assert network(store).query(key).refunded_minor == 5980
    assert len(network(store).reversals(key)) == 1
    with store["daemon"].ctx.store.read() as s:
        order = s.get(Order, oid)
        assert order is not None and (order.status, order.refunded_minor) == ("refunded", 5980)
    assert refund(store, oid, {}).json()["error"]["code"] == "nothing_to_refund"


def test_a_refund_the_network_refused_is_failed_and_can_be_done_again(store: dict[str, Any]) -> None:
    from edge.checkout.payments import PaymentFailed

    oid, key = paid_order(store, qty=1)
    with flaky(store["daemon"], Faults(reverse_before=PaymentFailed("refused", code="refund_refused"))):
        r = refund(store, oid, {})
    assert (r.status_code, r.json()["error"]["code"]) == (502, "refund_refused")
    with store["daemon"].ctx.store.read() as s:
        assert [x.status for x in s.exec(select(Refund).where(Refund.order_id == oid))] == ["failed"]
    assert refund(store, oid, {}).json()["amount_minor"] == 2990
    assert network(store).query(key).refunded_minor == 2990


def test_a_void_retried_after_its_record_failed_releases_once_and_revokes_the_pass(store: dict[str, Any]) -> None:
    c = store["client"]
    sid = cart(store, MILK)
    out = checkout(store, sid).json()
    oid, key = out["order_id"], out["payment"]["id"]
    with failing_write("order.voided", ValueError("payload refused")):
        r = c.post(f"/api/checkout/orders/{oid}/void", json={"reason": "wrong item"}, headers=store["staff"])
    assert (r.status_code, r.json()["error"]["code"]) == (502, "refund_pending")
    g = c.post("/api/gate/verify", json={"text": out["exit_pass"]}, headers=store["gate"])
    assert g.json()["error"]["code"] == "pass_revoked"  # the shopper cannot leave on a sale being voided
    r = c.post(f"/api/checkout/orders/{oid}/void", json={"reason": "wrong item"}, headers=store["staff"])
    assert r.status_code == 200 and r.json()["status"] == "voided" and r.json()["replayed"] is True
    assert len(network(store).reversals(key)) == 1
    state = network(store).query(key)
    assert state.status == "reversed" or (state.status, state.refunded_minor) == ("refunded", state.amount_minor)
    assert intent(store, key).status == "reversed"
    assert outbox_kinds(store, "order.voided", oid) == 1


def test_pending_refunds_are_finished_at_startup(tmp_path: Path) -> None:
    """A refund whose answer was lost, and one that never reached the network: a restart settles both, once."""
    data = tmp_path / "data"
    with running_app(data) as (client, daemon):
        assert not import_products(daemon.ctx.store, demo_rows("CNY")).refused
        st = {
            "client": client,
            "daemon": daemon,
            "data": data,
            "kiosk": device_headers(daemon, "kiosk-r", "kiosk"),
            "staff": staff_headers(daemon),
        }
        (lost, lost_key), (unsent, unsent_key) = paid_order(st, qty=2), paid_order(st, qty=2)
        with flaky(daemon, Faults(reverse_after=PaymentTimeout("no answer"))):
            assert refund(st, lost, {"lines": [{"line_no": 1, "qty": 1}]}).json()["error"]["code"] == "refund_pending"
        with flaky(daemon, Faults(reverse_before=ConnectionResetError("network down"))):
            assert refund(st, unsent, {}).json()["error"]["code"] == "refund_pending"
        assert network(st).query(unsent_key).refunded_minor == 0
    with running_app(data) as (_client, daemon):  # the box restarts
        comp = next(c for c in daemon.components if c.name == "checkout")
        assert comp.recovered["refunds"] == 2  # type: ignore[attr-defined]
        with daemon.ctx.store.read() as s:
            assert {r.status for r in s.exec(select(Refund))} == {"done"}
            assert s.get(Order, lost).refunded_minor == 2990  # type: ignore[union-attr]
            assert s.get(Order, unsent).status == "refunded"  # type: ignore[union-attr]
    assert network(st).query(lost_key).refunded_minor == 2990
    assert network(st).query(unsent_key).refunded_minor == 5980
    assert len(network(st).reversals(lost_key)) == len(network(st).reversals(unsent_key)) == 1


# --- 2. an unexpected payment error: ask the network, undo the hold, say only what is known ---
def test_an_unexpected_provider_error_releases_the_hold(store: dict[str, Any]) -> None:
    sid = cart(store, MILK)
    with flaky(store["daemon"], Faults(authorize_after=RuntimeError("connection reset by peer"))):
        r = checkout(store, sid)
    (charge,) = network(store).charges(sid)
    assert charge["status"] == "reversed", "the hold was left on the shopper's card"
    assert (r.status_code, r.json()["error"]["code"]) == (502, "payment_failed")
    assert r.json()["error"]["details"]["charged"] is False  # known: asked, and the hold was undone
    assert checkout(store, sid).status_code == 200  # paying again works, one charge
    assert sorted(ch["status"] for ch in network(store).charges(sid)) in (
        ["authorized", "reversed"],
        ["captured", "reversed"],
    )


def test_when_the_network_cannot_be_asked_the_shopper_is_not_told_nothing_was_charged(
    store: dict[str, Any],
) -> None:
    sid = cart(store, MILK)
    down = ConnectionRefusedError("acquirer unreachable")
    with flaky(store["daemon"], Faults(authorize_after=RuntimeError("reset"), query=down)):
        r = checkout(store, sid)
    err = r.json()["error"]
    assert "nothing was charged" not in err["message"]
    assert (r.status_code, err["code"], err["details"]["charged"]) == (502, "payment_unconfirmed", "unknown")
    (charge,) = network(store).charges(sid)
    assert charge["status"] == "authorized"
    assert intent(store, charge["key"]).status == "authorizing"  # left for recovery, not marked failed
    capturer = store["daemon"].ctx.own(CheckoutServices).checkout.capturer
    with (
        store["daemon"].ctx.own(CheckoutServices).sessions.locks.hold(sid)
    ):  # a checkout of this cart in flight: recovery keeps its hands off
        assert capturer.recover(False, 0, orphan_age_s=0)["reversed"] == 0
    assert capturer.recover(False, 0, orphan_age_s=0)["reversed"] == 1
    assert network(store).charges(sid)[0]["status"] == "reversed"
    assert intent(store, charge["key"]).status == "reversed"


# --- 3. a failed order commit never leaves a hold ---------------------------------------------
@pytest.mark.parametrize(
    "exc", [sqlite3.OperationalError("database or disk is full"), ValueError("outbox payload too large")]
)
def test_a_failed_order_commit_releases_the_hold(store: dict[str, Any], exc: Exception) -> None:
    sid = cart(store, TEA)
    with failing_write("order.paid", exc):
        r = checkout(store, sid)
    err = r.json()["error"]
    assert (r.status_code, err["code"], err["details"]["charged"]) == (503, "order_not_saved", False)
    (charge,) = network(store).charges(sid)
    assert charge["status"] == "reversed"
    assert intent(store, charge["key"]).status == "reversed"
    with store["daemon"].ctx.store.read() as s:
        assert s.exec(select(Order).where(Order.session_id == sid)).first() is None
    assert checkout(store, sid).status_code == 200  # the shopper pays again, once


def test_a_hold_left_by_a_failed_commit_is_released_by_housekeeping_without_a_restart(
    store: dict[str, Any],
) -> None:
    sid = cart(store, TEA)
    with (
        flaky(store["daemon"], Faults(reverse_before=ConnectionResetError("network down"))),
        failing_write("order.paid", sqlite3.OperationalError("database is locked")),
    ):
        r = checkout(store, sid)
    assert (r.json()["error"]["code"], r.json()["error"]["details"]["charged"]) == ("order_not_saved", "unknown")
    (charge,) = network(store).charges(sid)
    assert charge["status"] == "authorized"
    comp = next(c for c in store["daemon"].components if c.name == "checkout")
    assert comp.housekeeping()["reversed"] == 0  # type: ignore[attr-defined]  # too young (in flight?)
    with store["daemon"].ctx.store.write() as s:  # two minutes later (checkout.orphan_hold_after_s = 60)
        it = s.get(PaymentIntent, charge["key"])
        assert it is not None
        it.updated_at = utcnow() - timedelta(minutes=2)
        s.add(it)
    assert comp.housekeeping()["reversed"] == 1  # type: ignore[attr-defined]
    assert network(store).charges(sid)[0]["status"] == "reversed"
    assert intent(store, charge["key"]).status == "reversed"


# --- 4. a typed phone number reveals no name --------------------------------------------------
def test_a_member_attached_by_phone_shows_only_the_last_digits(store: dict[str, Any]) -> None:
    c, k = store["client"], store["kiosk"]
    m = c.post("/api/checkout/members", json={"phone": "139 1234 5678", "name": "Wang Fang"}, headers=store["staff"])
    sid = cart(store, TEA)
    view = c.post(f"/api/kiosk/sessions/{sid}/member", json={"phone": "13912345678"}, headers=k).json()
    assert view["member"] == {"id": None, "name": "••• 5678", "via": "phone", "masked": True}
    assert "Wang" not in c.get(f"/api/kiosk/sessions/{sid}", headers=k).text
    out = checkout(store, sid).json()
    receipt = c.get(out["receipt_url"], headers=k)
    assert "Wang" not in receipt.text and m.json()["member_id"] not in receipt.text
    assert receipt.json()["member"]["name"] == "••• 5678"
    # the signed member QR proves the card: the name may show
    sid2 = cart(store, TEA)
    view = c.post(f"/api/kiosk/sessions/{sid2}/member", json={"code": m.json()["member_code"]}, headers=k).json()
    assert view["member"] == {"id": m.json()["member_id"], "name": "Wang Fang", "via": "code", "masked": False}
    out = checkout(store, sid2).json()
    assert c.get(out["receipt_url"], headers=k).json()["member"]["name"] == "Wang Fang"
