"""Checkout at the gate and after the sale, where a shopper or staff would notice a slip: the
random staff-audit flag, refusals counted by reason, staff void/refund audit rows, a single-use
coupon raced by two kiosks, the gate command on a real broker, and two gates reading one pass."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from edge.checkout.catalog import import_products
from edge.checkout.models import CouponRedemption, Order, PaymentIntent
from edge.checkout.payments import SANDBOX_DB, SandboxNetwork
from edge.checkout.service import CheckoutServices
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from edge.mqtt.client import MqttClient
from edge.platform.audit import AuditEvent
from edge.platform.codes import PASS_PREFIX
from edge.platform.mqttqueue import MqttQueued
from edge.platform.outbox import OutboxEvent
from edge.platform.security import KeyRing, Signer
from tests.integration.test_checkout_safety import apply, coupon, new_cart, pay
from tests.integration.test_mqtt_relay import Guide
from tests.support.inproc import device_headers, running_app, staff_headers
from tests.support.services import Mosquitto
from tests.support.waits import wait_for

TEA, MILK = GROCERY[0][0], GROCERY[1][0]
GATES = [f"gate-{c}" for c in "abcdef"]


def _shop(client: Any, daemon: Any) -> dict[str, Any]:
    assert not import_products(daemon.ctx.store, demo_rows("CNY")).refused
    st: dict[str, Any] = {
        "client": client,
        "daemon": daemon,
        "kiosk": device_headers(daemon, "kiosk-g1", "kiosk"),
        "kiosk_b": device_headers(daemon, "kiosk-g2", "kiosk"),
        "staff": staff_headers(daemon),
    }
    for g in GATES:
        st[g] = device_headers(daemon, g, "gate")
    return st


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """No pass is flagged for audit here (audit_share 0.0); no broker, so gate commands stay queued."""
    data = Path(tmp_path_factory.mktemp("gaps")) / "data"
    with running_app(data, {"checkout": {"audit_share": 0.0}}) as (client, daemon):
        yield {**_shop(client, daemon), "data": data}


def verify(st: dict[str, Any], gate: str, text: str) -> Any:
    return st["client"].post("/api/gate/verify", json={"text": text}, headers=st[gate])


def audit_rows(st: dict[str, Any], action: str, **where: str) -> list[AuditEvent]:
    with st["daemon"].ctx.store.read() as s:
        q = select(AuditEvent).where(AuditEvent.action == action)
        for field, value in where.items():
            q = q.where(getattr(AuditEvent, field) == value)
        return list(s.exec(q.order_by(col(AuditEvent.ts))).all())


def gate_commands(st: dict[str, Any], order_id: str) -> list[dict[str, Any]]:
    with st["daemon"].ctx.store.read() as s:
        rows = s.exec(select(MqttQueued).where(col(MqttQueued.topic).like("%/gate/%/cmd"))).all()
    msgs = [dict(json.loads(r.payload), _topic=r.topic) for r in rows]
    return [m for m in msgs if m["order_id"] == order_id]


def outbox_payloads(st: dict[str, Any], kind: str, order_id: str) -> list[dict[str, Any]]:
    with st["daemon"].ctx.store.read() as s:
        rows = s.exec(select(OutboxEvent).where(OutboxEvent.kind == kind)).all()
    return [p for p in (json.loads(r.payload) for r in rows) if p.get("order_id") == order_id]


def refused_count(st: dict[str, Any], reason: str) -> float:
    text = st["client"].get("/metrics").text
    m = re.search(rf'^edge_checkout_exit_passes_refused_total\{{reason="{reason}"\}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def test_an_unflagged_pass_opens_without_audit_everywhere_it_is_said(store: dict[str, Any]) -> None:
    for _ in range(3):
        out = pay(store, new_cart(store, TEA)).json()
        r = verify(store, "gate-a", out["exit_pass"])
        assert r.status_code == 200 and r.json() == {"open": True, "order_id": out["order_id"], "audit": False}
        [cmd] = gate_commands(store, out["order_id"])
        assert cmd["_topic"] == "retail/test-store/gate/gate-a/cmd" and cmd["cmd"] == "open" and cmd["audit"] is False
        assert [p["audit"] for p in outbox_payloads(store, "exit_pass.used", out["order_id"])] == [False]
        [row] = audit_rows(store, "checkout.pass_used", subject=out["order_id"])
        assert json.loads(row.detail) == {"audit_flag": False}


def test_every_pass_is_flagged_with_share_one_and_the_gate_hears_it_on_a_real_broker(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    gate_topic = "retail/test-store/gate/gate-c/cmd"
    listener = Guide(mosquitto.port, "gate-c-handheld", [gate_topic])
    cfg = {"checkout": {"audit_share": 1.0}, "mqtt": {"url": mosquitto.url, "relay_poll_s": 0.2}}
    try:
        with running_app(tmp_path / "data", cfg) as (client, daemon):
            st = _shop(client, daemon)
            assert daemon.ctx.own(MqttClient).wait_connected(10)
            out = pay(st, new_cart(st, TEA)).json()
            r = verify(st, "gate-c", out["exit_pass"])
            assert r.status_code == 200 and r.json() == {"open": True, "order_id": out["order_id"], "audit": True}
            got = listener.wait_for(lambda m: m.get("order_id") == out["order_id"])
            assert len(got) == 1 and got[0]["_topic"] == gate_topic
            assert got[0]["cmd"] == "open" and got[0]["audit"] is True and got[0]["event_id"] and got[0]["pass_id"]
            assert [p["audit"] for p in outbox_payloads(st, "exit_pass.used", out["order_id"])] == [True]
            [row] = audit_rows(st, "checkout.pass_used", subject=out["order_id"])
            assert json.loads(row.detail) == {"audit_flag": True} and row.actor == "device:gate-c"
            # the command went out once and its queue row was deleted on PUBACK
            wait_for(lambda: gate_commands(st, out["order_id"]), 10, "the gate command's queue row to go",
                     until=lambda rows: rows == [])  # fmt: skip
            # the next shopper's command on the same topic comes after any second copy of the first
            later = pay(st, new_cart(st, TEA)).json()
            assert verify(st, "gate-c", later["exit_pass"]).status_code == 200
            assert listener.wait_for(lambda m: m.get("order_id") == later["order_id"])
            assert sum(1 for _topic, body in listener.raw if out["order_id"].encode() in body) == 1
    finally:
        listener.close()


def test_forged_expired_and_replayed_passes_are_counted_and_audited_by_reason(store: dict[str, Any]) -> None:
    out = pay(store, new_cart(store, TEA)).json()
    signer = store["daemon"].ctx.own(CheckoutServices).codes.exit_pass
    claims = signer.verify(out["exit_pass"][len(PASS_PREFIX) :])
    stranger = Signer("exit_pass", KeyRing(Path(store["data"]) / "stranger.keys.json"))
    forged = PASS_PREFIX + stranger.sign({"o": claims["o"], "p": claims["p"]}, ttl_s=600)
    expired = PASS_PREFIX + signer.sign({"o": claims["o"], "p": claims["p"], "exp": int(time.time()) - 5})
    assert verify(store, "gate-b", out["exit_pass"]).status_code == 200
    before = {r: refused_count(store, r) for r in ("forged", "expired", "used")}
    for text, status, reason in ((forged, 403, "forged"), (expired, 410, "expired"), (out["exit_pass"], 409, "used")):
        r = verify(store, "gate-b", text)
        assert (r.status_code, r.json()["error"]["code"]) == (status, f"pass_{reason}")
    after = {r: refused_count(store, r) for r in ("forged", "expired", "used")}
    assert {r: after[r] - before[r] for r in after} == {"forged": 1, "expired": 1, "used": 1}
    rows = audit_rows(store, "checkout.pass_refused", actor="device:gate-b")
    assert [json.loads(r.detail)["reason"] for r in rows] == ["forged", "expired", "used"]
    assert {r.subject for r in rows} == {"gate-b"}


def _captured(st: dict[str, Any], key: str) -> None:
    def status() -> str | None:
        with st["daemon"].ctx.store.read() as s:
            it = s.get(PaymentIntent, key)
        return None if it is None else it.status

    wait_for(status, 10, f"payment {key} to be captured", until=lambda got: got == "captured")


def test_staff_void_and_refund_are_audited_with_the_staff_login_and_reason(store: dict[str, Any]) -> None:
    c, staff = store["client"], store["staff"]
    voided = pay(store, new_cart(store, TEA)).json()
    why = {"reason": "shopper changed mind"}
    r = c.post(f"/api/checkout/orders/{voided['order_id']}/void", json=why, headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "voided"
    [row] = audit_rows(store, "checkout.order_voided", subject=voided["order_id"])
    assert row.actor == "user:it-admin" and json.loads(row.detail) == why

    sid = new_cart(store, TEA, MILK)
    refunded = pay(store, sid).json()
    _captured(store, refunded["payment"]["id"])
    r = c.post(
        f"/api/checkout/orders/{refunded['order_id']}/refund",
        json={"lines": [{"line_no": 2, "qty": 1}], "reason": "milk was sour"},
        headers=staff,
    )
    assert r.status_code == 200, r.text
    [row] = audit_rows(store, "checkout.order_refunded", subject=refunded["order_id"])
    detail = json.loads(row.detail)
    assert row.actor == "user:it-admin" and detail["reason"] == "milk was sour"
    assert detail["amount_minor"] == r.json()["amount_minor"] > 0
    # a kiosk cannot do either, and leaves no audit row trying
    kiosk = store["kiosk"]
    assert c.post(f"/api/checkout/orders/{refunded['order_id']}/refund", json={}, headers=kiosk).status_code == 403
    assert len(audit_rows(store, "checkout.order_refunded", subject=refunded["order_id"])) == 1


def test_two_kiosks_racing_one_single_use_coupon_make_one_redemption_and_release_the_loser(
    store: dict[str, Any],
) -> None:
    code = coupon(store)
    carts = [(new_cart(store, TEA), "kiosk"), (new_cart(store, MILK, kiosk="kiosk_b"), "kiosk_b")]
    for sid, k in carts:
        assert apply(store, sid, code, kiosk=k).status_code == 200
    start = threading.Barrier(len(carts))
    # Both payments hold for 0.5 s, so both pass the coupon check before either order commits.
    body = {"provider": "sandbox", "simulate": {"outcome": "slow", "delay_ms": 500}}

    def go(sid: str, k: str) -> Any:
        start.wait(5)
        return store["client"].post(f"/api/kiosk/sessions/{sid}/checkout", json=body, headers=store[k])

    with ThreadPoolExecutor(len(carts)) as pool:
        answers = list(pool.map(lambda a: go(*a), carts))
    assert sorted(r.status_code for r in answers) == [200, 409]
    win = next(r.json() for r in answers if r.status_code == 200)
    lose_sid = next(sid for (sid, _k), r in zip(carts, answers, strict=True) if r.status_code == 409)
    assert next(r for r in answers if r.status_code == 409).json()["error"]["code"] == "coupon_used"

    coupon_id = store["daemon"].ctx.own(CheckoutServices).codes.coupon_claims(code)["c"]
    with store["daemon"].ctx.store.read() as s:
        used = s.exec(select(CouponRedemption).where(CouponRedemption.coupon_id == coupon_id)).all()
        assert [u.order_id for u in used] == [win["order_id"]]
        assert s.exec(select(Order).where(Order.session_id == lose_sid)).first() is None
    ledger = SandboxNetwork(Path(store["data"]) / SANDBOX_DB)
    [lost] = ledger.charges(lose_sid)
    assert lost["status"] == "reversed" and lost["captures"] == 0  # the hold was released, nothing charged
    win_sid = next(sid for sid, _k in carts if sid != lose_sid)
    assert [ch["status"] for ch in ledger.charges(win_sid)] in (["authorized"], ["captured"])


def test_two_gates_reading_one_pass_at_once_open_once(store: dict[str, Any]) -> None:
    out = pay(store, new_cart(store, TEA)).json()
    start = threading.Barrier(len(GATES))

    def read(gate: str) -> Any:
        start.wait(5)
        return verify(store, gate, out["exit_pass"])

    with ThreadPoolExecutor(len(GATES)) as pool:
        answers = list(pool.map(read, GATES))
    assert sorted(r.status_code for r in answers) == [200] + [409] * (len(GATES) - 1)
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"pass_used"}
    opened = next(g for g, r in zip(GATES, answers, strict=True) if r.status_code == 200)
    cmds = gate_commands(store, out["order_id"])
    assert [m["_topic"] for m in cmds] == [f"retail/test-store/gate/{opened}/cmd"]  # one gate opens, once
    assert len(audit_rows(store, "checkout.pass_used", subject=out["order_id"])) == 1
