"""The whole kiosk path through HTTP on the real app: scan, member, coupon, pay, pass, gate, receipt."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from edge.app import Daemon
from edge.checkout.catalog import import_products
from edge.checkout.models import Order, PaymentIntent
from edge.checkout.payments import SANDBOX_DB, SandboxNetwork
from edge.checkout.promotions import parse_promotion
from edge.checkout.service import CART_WRITES, CheckoutServices
from edge.demo.catalog import CRACKERS, DELI_HAM, DEMO_PROMOTIONS, LOOSE_APPLES, RICE_WINE, WATER, demo_rows
from edge.demo.gtins import GROCERY
from edge.platform.gs1 import check_digit
from edge.platform.gs1 import variable_measure_code as variable_code
from edge.platform.outbox import OutboxEvent
from edge.platform.timeutil import utcnow
from tests.support.inproc import device_headers, running_app, staff_headers
from tests.support.waits import wait_for

TEA = GROCERY[0][0]
MILK = GROCERY[1][0]
CHOC = GROCERY[4][0]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One real app (lifespan, SQLite file) for the module; each test opens its own carts."""
    with running_app(Path(tmp_path_factory.mktemp("flow")) / "data") as (client, daemon):
        report = import_products(daemon.ctx.store, demo_rows("CNY"))
        assert not report.refused
        with daemon.ctx.store.write() as s:
            for p in DEMO_PROMOTIONS:
                s.merge(parse_promotion(p))
        yield {
            "client": client,
            "daemon": daemon,
            "kiosk": device_headers(daemon, "kiosk-1", "kiosk"),
            "kiosk2": device_headers(daemon, "kiosk-2", "kiosk"),
            "gate": device_headers(daemon, "gate-1", "gate"),
            "staff": staff_headers(daemon),
        }


def network(st: dict[str, Any]) -> SandboxNetwork:
    """The sandbox acquirer's own books, read the way an auditor would."""
    return SandboxNetwork(Path(st["daemon"].settings.storage.data_dir) / SANDBOX_DB)


def wait_captured(daemon: Daemon, order_id: str) -> None:
    """The capture runs in a worker thread right after the answer."""

    def status() -> str:
        with daemon.ctx.store.read() as s:
            return s.exec(select(PaymentIntent).where(PaymentIntent.order_id == order_id)).one().status

    wait_for(status, 10, f"the payment of order {order_id} to be captured", until=lambda st: st == "captured")


def open_cart(st: dict[str, Any]) -> str:
    r = st["client"].post("/api/kiosk/sessions", json={}, headers=st["kiosk"])
    assert r.status_code == 201, r.text
    return str(r.json()["session_id"])


def add(st: dict[str, Any], sid: str, code: str, qty: int = 1, **extra: Any) -> Any:
    return st["client"].post(
        f"/api/kiosk/sessions/{sid}/items", json={"code": code, "qty": qty, **extra}, headers=st["kiosk"]
    )


def test_the_whole_path_from_scan_to_gate(store: dict[str, Any]) -> None:
    c, k = store["client"], store["kiosk"]
    sid = open_cart(store)
    r = add(store, sid, TEA, 2, price_minor=1, unit_price=1)  # a client price is ignored
    assert r.status_code == 201
    assert r.json()["cart"]["lines"][0]["unit_minor"] == 2990
    assert add(store, sid, WATER, 3).status_code == 201
    assert add(store, sid, CRACKERS, 3).status_code == 201
    assert add(store, sid, CHOC).status_code == 201
    apples = variable_code(LOOSE_APPLES, 1500)  # 1.5 kg at 12.80/kg
    cart = add(store, sid, apples).json()["cart"]
    assert cart["lines"][-1]["gross_minor"] == 1920 and "1.500 kg" in cart["lines"][-1]["measure"]
    # member by phone: a typed number proves nothing, so only its last digits show
    m = c.post("/api/checkout/members", json={"phone": "138 0013 8000", "name": "Li"}, headers=store["staff"])
    assert m.status_code == 201
    cart = c.post(f"/api/kiosk/sessions/{sid}/member", json={"phone": "13800138000"}, headers=k).json()
    assert cart["member"] == {"id": None, "name": "••• 8000", "via": "phone", "masked": True}
    # a coupon
    until = (utcnow() + timedelta(days=1)).isoformat()
    coupon = c.post(
        "/api/checkout/coupons",
        json={"kind": "percent", "value": 10, "valid_to": until},
        headers=store["staff"],
    ).json()["codes"][0]
    cart = c.post(f"/api/kiosk/sessions/{sid}/coupons", json={"code": coupon}, headers=k).json()
    kinds = {a["kind"] for line in cart["lines"] for a in line["adjustments"]}
    assert {"multibuy", "member_price", "coupon"} <= kinds
    # 5980 tea + 1200 water (3 for 12) + 1780 crackers (b2g1 beats member 3x1.00) + 1490 choc (member)
    # + 1920 apples = 12370; threshold 20.00 off at 100.00 -> 10370; coupon 10% (1037) -> 9333
    assert cart["total_minor"] == 9333, cart
    r = c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox", "total_minor": 1}, headers=k)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["total_minor"] == 9333 and out["payment"]["status"] in ("authorized", "captured")
    wait_captured(store["daemon"], out["order_id"])
    svg = c.get(out["pass_svg_url"], headers=k)
    assert svg.status_code == 200 and svg.text.startswith("<svg")
    assert 'xmlns="http://www.w3.org/2000/svg"' in svg.text  # standalone: shows as an <img>
    # another kiosk cannot fetch this sale's pass (a free walk past the gate) or its receipt
    for url in (out["pass_svg_url"], out["receipt_url"], out["receipt_html_url"]):
        other = c.get(url, headers=store["kiosk2"])
        assert other.status_code == 404 and other.json()["error"]["code"] == "unknown_order", url
    assert c.get(out["receipt_url"], headers=store["staff"]).json()["total_minor"] == 9333
    # the gate opens once
    g = c.post("/api/gate/verify", json={"text": out["exit_pass"]}, headers=store["gate"])
    assert g.status_code == 200 and g.json()["open"] is True
    again = c.post("/api/gate/verify", json={"text": out["exit_pass"]}, headers=store["gate"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "pass_used"
    # receipt explains every discount
    rec = c.get(out["receipt_url"], headers=k).json()
    assert rec["total_minor"] == 9333 and rec["order_discounts"]
    assert rec["receipt_number"] == rec["order_id"].replace("-", "")[-8:].upper()
    discounts = [a for line in rec["lines"] for a in line["adjustments"]]  # order discounts shared out
    assert {a["kind"] for a in discounts} >= {"multibuy", "member_price", "threshold", "coupon"}
    assert sum(a["amount_minor"] for a in discounts) == rec["discount_minor"]
    assert sum(d["amount_minor"] for d in rec["order_discounts"]) == 2000 + 1037
    page = c.get(out["receipt_html_url"], headers=k)
    assert page.status_code == 200 and "3 for 12.00" in page.text
    order_id = out["order_id"]
    assert f"Receipt no. {order_id.replace('-', '')[-8:].upper()}" in page.text  # short, for a person
    assert "(13%, included)" in page.text  # shelf prices include the tax, as the cart says
    for a in discounts + rec["order_discounts"]:  # the printed receipt gives every discount its reason
        assert a["reason"] and html.escape(a["reason"]) in page.text, a
    db = store["daemon"].ctx.store
    with db.read() as s:
        kinds_out = {e.kind for e in s.exec(select(OutboxEvent).where(OutboxEvent.stream == "orders"))}
        assert {"order.paid", "payment.authorized", "payment.captured", "exit_pass.used"} <= kinds_out
        from edge.platform.mqttqueue import MqttQueued

        assert s.exec(select(MqttQueued)).first().topic == "retail/test-store/gate/gate-1/cmd"  # type: ignore[union-attr]


def test_bad_codes_give_typed_answers(store: dict[str, Any]) -> None:
    sid = open_cart(store)
    bad_check = TEA[:-1] + str((int(TEA[-1]) + 1) % 10)
    cases = [
        (bad_check, 1, 400, "bad_check_digit"),
        ("4006381333931", 1, 404, "unknown_product"),
        ("hello", 1, 400, "invalid_gtin"),
        (TEA, -1, 400, "bad_quantity"),
        (TEA, 10**9, 400, "bad_quantity"),
        (variable_code(LOOSE_APPLES, 0), 1, 422, "bad_embedded_weight"),
        (variable_code("2100002000000", 0), 1, 422, "bad_embedded_price"),
    ]
    for code, qty, status, err in cases:
        r = add(store, sid, code, qty)
        assert (r.status_code, r.json()["error"]["code"]) == (status, err), (code, r.text)
    assert store["client"].get(f"/api/kiosk/sessions/{sid}", headers=store["kiosk"]).json()["lines"] == []
    # another kiosk cannot touch this cart
    r = store["client"].post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=store["kiosk2"])
    assert r.json()["error"]["code"] == "wrong_kiosk"


def test_scale_labels_price_the_line_and_belong_to_weighed_items(store: dict[str, Any]) -> None:
    """A deli label carries its price; a weighed item needs a label; a label needs a weighed item."""
    plain_weighed = "6990009" + "00001"
    plain_weighed += check_digit(plain_weighed)
    not_weighed = "2100003" + "00000"
    not_weighed += check_digit(not_weighed)
    rows = [
        {"gtin": plain_weighed, "name": "Pick-and-mix (weighed)", "price_minor": 500, "weighed": True},
        {"gtin": not_weighed, "name": "Boxed ham", "price_minor": 900},
    ]
    assert import_products(store["daemon"].ctx.store, rows).accepted == 2
    sid = open_cart(store)
    r = add(store, sid, variable_code(DELI_HAM, 1234))  # 12.34 printed by the deli scale
    assert r.status_code == 201, r.text
    line = r.json()["cart"]["lines"][0]
    assert (line["qty"], line["gross_minor"]) == (1, 1234) and r.json()["cart"]["total_minor"] == 1234
    cases = [
        (plain_weighed, 422, "weighed_needs_label"),
        (variable_code(not_weighed, 900), 422, "bad_embedded_price"),
        (variable_code(LOOSE_APPLES, 30001), 422, "bad_embedded_weight"),  # above max_weighed_grams
    ]
    for code, status, err in cases:
        r = add(store, sid, code)
        assert (r.status_code, r.json()["error"]["code"]) == (status, err), (code, r.text)
    assert len(store["client"].get(f"/api/kiosk/sessions/{sid}", headers=store["kiosk"]).json()["lines"]) == 1


def test_age_restricted_items_wait_for_staff(store: dict[str, Any]) -> None:
    c, k = store["client"], store["kiosk"]
    sid = open_cart(store)
    r = add(store, sid, RICE_WINE)
    assert r.json()["alerts"][0]["code"] == "age_check_required"
    r = c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=k)
    assert r.status_code == 409 and r.json()["error"]["code"] == "age_check_required"
    assert c.post(f"/api/checkout/sessions/{sid}/age-check", headers=k).status_code == 403  # kiosk can't approve
    assert c.post(f"/api/checkout/sessions/{sid}/age-check", headers=store["staff"]).json()["age_check"] == "done"
    assert c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=k).status_code == 200


def test_quantity_changes_and_cart_limits(store: dict[str, Any]) -> None:
    c, k = store["client"], store["kiosk"]
    sid = open_cart(store)
    line = add(store, sid, TEA).json()["cart"]["lines"][0]
    r = c.patch(f"/api/kiosk/sessions/{sid}/lines/{line['line_id']}", json={"qty": 5}, headers=k)
    assert r.json()["lines"][0]["qty"] == 5
    r = add(store, sid, TEA, 99)
    assert r.status_code == 422 and r.json()["error"]["code"] == "quantity_too_large"
    r = c.delete(f"/api/kiosk/sessions/{sid}/lines/{line['line_id']}", headers=k)
    assert r.json()["lines"] == []


def test_payment_failures_never_charge_and_timeout_is_reversed(store: dict[str, Any]) -> None:
    c, k = store["client"], store["kiosk"]
    sid = open_cart(store)
    add(store, sid, TEA)
    for outcome, status, code in (
        ("decline", 402, "payment_declined"),
        ("fail", 502, "payment_failed"),
        ("timeout", 504, "payment_timeout"),
    ):
        r = c.post(
            f"/api/kiosk/sessions/{sid}/checkout",
            json={"provider": "sandbox", "simulate": {"outcome": outcome}},
            headers=k,
        )
        assert (r.status_code, r.json()["error"]["code"]) == (status, code)
    r = c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=k)
    assert r.status_code == 200
    wait_captured(store["daemon"], r.json()["order_id"])
    charges = network(store).charges(sid)
    assert sorted(ch["status"] for ch in charges) == ["captured", "reversed"]  # the timed-out hold was undone
    assert sum(ch["captures"] for ch in charges) == 1
    r = c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "qr", "payment_code": "123"}, headers=k)
    assert r.status_code == 200 and r.json()["replayed"] is True  # the cart is paid: same order, no charge


def test_qr_payment_code_is_checked(store: dict[str, Any]) -> None:
    c, k = store["client"], store["kiosk"]
    sid = open_cart(store)
    add(store, sid, MILK)
    r = c.post(
        f"/api/kiosk/sessions/{sid}/checkout",
        json={"provider": "qr", "payment_code": "99" + "1" * 16},
        headers=k,
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_payment_code"
    r = c.post(
        f"/api/kiosk/sessions/{sid}/checkout",
        json={"provider": "qr", "payment_code": "28" + "1" * 16},
        headers=k,
    )
    assert r.status_code == 200 and r.json()["payment"]["provider"] == "qr"


def test_void_and_partial_refund_by_staff(store: dict[str, Any]) -> None:
    c, k, st = store["client"], store["kiosk"], store["staff"]
    sid = open_cart(store)
    add(store, sid, TEA, 3)
    out = c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=k).json()
    wait_captured(store["daemon"], out["order_id"])
    assert c.post(f"/api/checkout/orders/{out['order_id']}/refund", json={}, headers=k).status_code == 403
    r = c.post(
        f"/api/checkout/orders/{out['order_id']}/refund",
        json={"lines": [{"line_no": 1, "qty": 1}]},
        headers=st,
    )
    assert r.status_code == 200 and r.json()["amount_minor"] == 2990 and r.json()["status"] == "partially_refunded"
    r = c.post(
        f"/api/checkout/orders/{out['order_id']}/refund",
        json={"lines": [{"line_no": 1, "qty": 5}]},
        headers=st,
    )
    assert r.json()["error"]["code"] == "bad_refund_qty"
    r = c.post(f"/api/checkout/orders/{out['order_id']}/refund", json={}, headers=st)
    assert r.json()["amount_minor"] == 5980 and r.json()["status"] == "refunded"
    # void another order: its pass stops working
    sid2 = open_cart(store)
    add(store, sid2, MILK)
    out2 = c.post(f"/api/kiosk/sessions/{sid2}/checkout", json={"provider": "sandbox"}, headers=k).json()
    assert (
        c.post(f"/api/checkout/orders/{out2['order_id']}/void", json={"reason": "changed mind"}, headers=st).json()[
            "status"
        ]
        == "voided"
    )
    g = c.post("/api/gate/verify", json={"text": out2["exit_pass"]}, headers=store["gate"])
    assert g.status_code == 409 and g.json()["error"]["code"] == "pass_revoked"
    with store["daemon"].ctx.store.read() as s:
        o = s.get(Order, out2["order_id"])
        assert o is not None and o.status == "voided"
    (ch,) = network(store).charges(sid2)
    # voided before or after the capture worker took the money: either the hold was released
    # (nothing captured) or what was captured came back in full
    released = ch["captures"] == 0 and ch["status"] == "reversed"
    assert released or ch["refunded_minor"] == ch["amount_minor"], ch


def _held_for(lock_cm: Any, seconds: float) -> threading.Thread:
    """Hold a lock (a context manager) in another thread for `seconds`; returns once it is held."""
    held = threading.Event()

    def hold() -> None:
        with lock_cm:
            held.set()
            time.sleep(seconds)  # simulated: a slow payment commit (or checkout) holding the lock

    t = threading.Thread(target=hold)
    t.start()
    assert held.wait(5)
    return t


def _cart_writes(where: str) -> float:
    return float(CART_WRITES.labels(where)._value.get())


def test_a_scan_waits_for_a_busy_write_slot_or_cart_instead_of_failing(store: dict[str, Any]) -> None:
    """Cart changes run on the event loop; when the write slot (a payment commit) or the cart
    (its own checkout) is held for long, the scan waits in a worker thread and still lands."""
    sid = open_cart(store)
    loop_before = _cart_writes("loop")
    assert add(store, sid, TEA).status_code == 201
    assert add(store, sid, CHOC).status_code == 201
    assert add(store, sid, CHOC, qty=-1).status_code == 400  # bad_quantity, refused before any lock
    # On a quiet app they run on the loop (a background writer may rarely push one to a thread).
    assert _cart_writes("loop") >= loop_before + 1
    # If one was pushed to a thread, the loop may be backing off: wait until it tries the loop again.
    cart_writes = store["daemon"].ctx.own(CheckoutServices).cart_writes
    wait_for(lambda: time.monotonic() >= cart_writes._until, 10, "the loop's cart-write back-off to end")

    ctx = store["daemon"].ctx
    for lock_cm in (ctx.store._slot, ctx.own(CheckoutServices).sessions.locks.hold(sid)):
        thread_before = _cart_writes("thread")
        holder = _held_for(lock_cm, 0.3)
        t0 = time.monotonic()
        r = add(store, sid, MILK)
        waited = time.monotonic() - t0
        holder.join()
        assert r.status_code == 201, r.text
        assert waited >= 0.2, "the scan must have waited for the lock, not gone around it"
        assert _cart_writes("thread") == thread_before + 1
    assert r.json()["added"]["qty"] == 2, "both waiting scans of the milk landed, once each"
    assert sorted(line["qty"] for line in r.json()["cart"]["lines"]) == [1, 1, 2]
