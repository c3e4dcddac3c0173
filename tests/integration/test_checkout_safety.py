"""Bad input at checkout: coupons, passes, huge carts, expiry, camera scans, face-pay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from edge.checkout.catalog import import_products
from edge.checkout.models import ExitPass, KioskSession
from edge.checkout.service import CheckoutServices
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from edge.platform.codes import PASS_PREFIX
from edge.platform.gs1 import check_digit
from edge.platform.gs1facts import facts
from edge.platform.timeutil import utcnow
from edge.scanning.events import ScanEvent
from tests.support.inproc import device_headers, running_app, staff_headers
from tests.support.waits import wait_for

TEA = GROCERY[0][0]
MILK = GROCERY[1][0]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with running_app(Path(tmp_path_factory.mktemp("checkout")) / "data") as (client, daemon):
        assert not import_products(daemon.ctx.store, demo_rows("CNY")).refused
        yield {
            "client": client,
            "daemon": daemon,
            "kiosk": device_headers(daemon, "kiosk-9", "kiosk"),
            "kiosk_b": device_headers(daemon, "kiosk-10", "kiosk"),
            "gate": device_headers(daemon, "gate-9", "gate"),
            "staff": staff_headers(daemon),
        }


def new_cart(st: dict[str, Any], *codes: str, kiosk: str = "kiosk") -> str:
    c = st["client"]
    sid = str(c.post("/api/kiosk/sessions", json={}, headers=st[kiosk]).json()["session_id"])
    for code in codes:
        assert c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": code}, headers=st[kiosk]).status_code == 201
    return sid


def pay(st: dict[str, Any], sid: str, kiosk: str = "kiosk") -> Any:
    return st["client"].post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=st[kiosk])


def coupon(st: dict[str, Any], **kw: Any) -> str:
    body = {"kind": "fixed", "value": 100, "valid_to": (utcnow() + timedelta(hours=1)).isoformat(), **kw}
    r = st["client"].post("/api/checkout/coupons", json=body, headers=st["staff"])
    assert r.status_code == 201, r.text
    return str(r.json()["codes"][0])


def apply(st: dict[str, Any], sid: str, code: str, kiosk: str = "kiosk") -> Any:
    return st["client"].post(f"/api/kiosk/sessions/{sid}/coupons", json={"code": code}, headers=st[kiosk])


def test_coupons_expired_early_forged_or_reused_are_refused(store: dict[str, Any]) -> None:
    past = (utcnow() - timedelta(hours=2)).isoformat()
    expired = coupon(store, valid_from=past, valid_to=(utcnow() - timedelta(hours=1)).isoformat())
    early = coupon(
        store,
        valid_from=(utcnow() + timedelta(hours=1)).isoformat(),
        valid_to=(utcnow() + timedelta(hours=2)).isoformat(),
    )
    good = coupon(store)
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    sid = new_cart(store, TEA)
    for code, status, err in (
        (expired, 410, "coupon_expired"),
        (early, 422, "coupon_not_yet_valid"),
        (forged, 400, "coupon_code_invalid"),
        ("RC1:nonsense", 400, "coupon_code_invalid"),
    ):
        r = apply(store, sid, code)
        assert (r.status_code, r.json()["error"]["code"]) == (status, err)
    assert apply(store, sid, good).status_code == 200
    assert apply(store, sid, good).json()["error"]["code"] == "coupon_already_applied"
    # another shopper holds the same single-use code; the first to pay redeems it
    other = new_cart(store, MILK, kiosk="kiosk_b")
    assert apply(store, other, good, kiosk="kiosk_b").status_code == 200
    assert pay(store, sid).status_code == 200
    r = pay(store, other, kiosk="kiosk_b")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "coupon_used")
    assert apply(store, new_cart(store, TEA), good).json()["error"]["code"] == "coupon_used"


def test_member_limited_coupon_counts_per_member(store: dict[str, Any]) -> None:
    c, st = store["client"], store["staff"]
    member = c.post("/api/checkout/members", json={"phone": "13900000001"}, headers=st).json()
    code = coupon(store, per_member_limit=1)
    sid = new_cart(store, TEA)
    assert apply(store, sid, code).json()["error"]["code"] == "coupon_needs_member"
    c.post(f"/api/kiosk/sessions/{sid}/member", json={"code": member["member_code"]}, headers=store["kiosk"])
    assert apply(store, sid, code).status_code == 200
    assert pay(store, sid).status_code == 200
    sid2 = new_cart(store, TEA)
    c.post(f"/api/kiosk/sessions/{sid2}/member", json={"phone": "13900000001"}, headers=store["kiosk"])
    assert apply(store, sid2, code).json()["error"]["code"] == "coupon_used"
    bad = c.post(f"/api/kiosk/sessions/{sid2}/member", json={"code": "RM1:k1.e30.AAAA"}, headers=store["kiosk"])
    assert bad.json()["error"]["code"] == "member_code_invalid"


def test_tampered_forged_expired_and_replayed_passes_are_refused(store: dict[str, Any]) -> None:
    c, gate = store["client"], store["gate"]
    out = pay(store, new_cart(store, TEA)).json()
    token: str = out["exit_pass"]
    kid, body, mac = token[len(PASS_PREFIX) :].split(".")
    tampered = f"{PASS_PREFIX}{kid}.{body[:-2]}{'AA' if body[-2:] != 'AA' else 'BB'}.{mac}"
    signer = store["daemon"].ctx.own(CheckoutServices).codes.exit_pass
    claims = signer.verify(token[len(PASS_PREFIX) :])
    expired = PASS_PREFIX + signer.sign({"o": claims["o"], "p": claims["p"], "exp": int(time.time()) - 5})
    from edge.platform.security import KeyRing, Signer

    stranger = Signer("exit_pass", KeyRing(Path(store["daemon"].settings.storage.data_dir) / "other.keys.json"))
    forged = PASS_PREFIX + stranger.sign({"o": claims["o"], "p": claims["p"]}, ttl_s=600)
    cases = [
        (tampered, 403, "pass_forged"),
        (forged, 403, "pass_forged"),
        (expired, 410, "pass_expired"),
        ("hello", 400, "pass_malformed"),
        ("x" * 5000, 422, "invalid_request"),
    ]
    for text, status, err in cases:
        r = c.post("/api/gate/verify", json={"text": text}, headers=gate)
        assert (r.status_code, r.json()["error"]["code"]) == (status, err), text[:30]
    assert c.post("/api/gate/verify", json={"text": token}, headers=gate).status_code == 200
    r = c.post("/api/gate/verify", json={"text": token}, headers=gate)
    assert r.json()["error"]["code"] == "pass_used"
    assert c.post("/api/gate/verify", json={"text": token}, headers=store["kiosk"]).status_code == 403
    from edge.platform.audit import AuditEvent

    with store["daemon"].ctx.store.read() as s:
        refusals = s.exec(select(AuditEvent).where(AuditEvent.action == "checkout.pass_refused")).all()
        assert len(refusals) >= 5


def test_a_pass_lives_about_15_minutes_and_the_gate_trusts_the_database_over_the_token(store: dict[str, Any]) -> None:
    """The token's signed expiry is checked first, then the pass row's: the database has the last word."""
    c, gate = store["client"], store["gate"]
    out = pay(store, new_cart(store, MILK)).json()
    signer = store["daemon"].ctx.own(CheckoutServices).codes.exit_pass
    claims = signer.verify(out["exit_pass"][len(PASS_PREFIX) :])
    assert 880 <= claims["exp"] - time.time() <= 900  # the shipped lifetime: 15 minutes
    with store["daemon"].ctx.store.write() as s:
        xp = s.exec(select(ExitPass).where(ExitPass.order_id == out["order_id"])).one()
        xp.expires_at = utcnow() - timedelta(seconds=1)
        s.add(xp)
        s.commit()
    r = c.post("/api/gate/verify", json={"text": out["exit_pass"]}, headers=gate)
    assert (r.status_code, r.json()["error"]["code"]) == (410, "pass_expired")
    again = c.get(out["pass_svg_url"], headers=store["kiosk"])  # the kiosk cannot show it again either
    assert (again.status_code, again.json()["error"]["code"]) == (409, "pass_expired")


def test_a_huge_cart_stops_at_the_line_limit(store: dict[str, Any]) -> None:
    rows = []
    for n in range(205):
        body = f"6990000{n:05d}"
        rows.append({"gtin": body + check_digit(body), "name": f"Item {n}", "price_minor": 100})
    assert import_products(store["daemon"].ctx.store, rows).accepted == 205
    sid = new_cart(store)
    c, k = store["client"], store["kiosk"]
    for row in rows[:200]:
        assert c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": row["gtin"]}, headers=k).status_code == 201
    r = c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": rows[200]["gtin"]}, headers=k)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "cart_full")
    assert len(c.get(f"/api/kiosk/sessions/{sid}", headers=k).json()["lines"]) == 200


def test_an_abandoned_session_expires(store: dict[str, Any]) -> None:
    sid = new_cart(store, TEA)
    db = store["daemon"].ctx.store
    with db.write() as s:
        ks = s.get(KioskSession, sid)
        assert ks is not None
        ks.updated_at = utcnow() - timedelta(hours=1)
        s.add(ks)
    assert store["daemon"].ctx.own(CheckoutServices).sessions.expire_idle() >= 1
    r = store["client"].post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=store["kiosk"])
    assert (r.status_code, r.json()["error"]["code"]) == (410, "session_expired")
    assert pay(store, sid).json()["error"]["code"] == "session_expired"


def test_camera_scans_fill_the_kiosk_cart_and_open_the_gate(store: dict[str, Any]) -> None:
    daemon, c = store["daemon"], store["client"]
    bus = daemon.ctx.bus
    sid = new_cart(store)
    bus.publish(
        ScanEvent(camera_id="cam-k9", role="kiosk", target="kiosk-9", symbology="EAN-13", text=TEA, gs1=facts(TEA))
    )
    bus.publish(
        ScanEvent(camera_id="cam-k9", role="kiosk", target="kiosk-9", symbology="EAN-13", text=TEA, gs1=facts(TEA))
    )
    view = wait_for(
        lambda: c.get(f"/api/kiosk/sessions/{sid}", headers=store["kiosk"]).json(),
        10,
        "both camera scans of the tea in the cart",
        until=lambda v: v["lines"] and v["lines"][0]["qty"] == 2,
    )
    assert view["lines"][0]["gtin"] == "0" + TEA
    out = pay(store, sid).json()
    bus.publish(
        ScanEvent(camera_id="cam-g9", role="exit_gate", target="gate-9", symbology="QRCode", text=out["exit_pass"])
    )

    def used() -> bool:
        with daemon.ctx.store.read() as s:
            row = s.exec(select(ExitPass).where(ExitPass.order_id == out["order_id"])).one()
            return row.used_at is not None and row.gate_id == "gate-9"

    wait_for(used, 10, "the gate camera's read to use the pass")


def test_face_pay_uses_the_real_face_pay_authorisation(store: dict[str, Any]) -> None:
    from edge.facepay.models import FaceAuthorizationRow

    daemon, c, k = store["daemon"], store["client"], store["kiosk"]
    assert daemon.ctx.services.facepay is not None  # the real FacePayer is in the tree
    sid = new_cart(store, MILK)
    total = c.get(f"/api/kiosk/sessions/{sid}", headers=k).json()["total_minor"]
    # a verification that passed leaves this row (the face models are not needed to consume it)
    with daemon.ctx.store.write() as s:
        auth = FaceAuthorizationRow(
            member_id="m-1",
            kiosk_id="kiosk-9",
            order_ref=sid,
            amount_minor=total,
            currency="CNY",
            attempt_id="a-1",
            expires_at=utcnow() + timedelta(minutes=2),
        )
        wrong = FaceAuthorizationRow(
            member_id="m-1",
            kiosk_id="kiosk-9",
            order_ref=sid,
            amount_minor=total + 1,
            currency="CNY",
            attempt_id="a-2",
            expires_at=utcnow() + timedelta(minutes=2),
        )
        s.add(auth)
        s.add(wrong)
    r = c.post(
        f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "face", "face_auth_id": wrong.auth_id}, headers=k
    )
    assert r.json()["error"]["code"] == "face_auth_mismatch"
    r = c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "face"}, headers=k)
    assert r.json()["error"]["code"] == "face_authorization_required"
    r = c.post(
        f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "face", "face_auth_id": auth.auth_id}, headers=k
    )
    assert r.status_code == 200 and r.json()["payment"]["provider"] == "face"
    # face-pay down or absent: a typed 503 from the verify endpoint
    sid2 = new_cart(store, MILK)
    r = c.post(f"/api/kiosk/sessions/{sid2}/face-verify", json={}, headers=k)
    assert r.status_code >= 400 and "code" in r.json()["error"]
    saved, daemon.ctx.services.facepay = daemon.ctx.services.facepay, None
    try:
        r = c.post(f"/api/kiosk/sessions/{sid2}/face-verify", json={}, headers=k)
        assert (r.status_code, r.json()["error"]["code"]) == (503, "facepay_unavailable")
    finally:
        daemon.ctx.services.facepay = saved


def test_a_wallet_code_read_by_the_kiosk_camera_pays_once(store: dict[str, Any]) -> None:
    c, k, bus = store["client"], store["kiosk"], store["daemon"].ctx.bus
    sid = new_cart(store, MILK)
    r = c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "qr"}, headers=k)
    assert r.json()["error"]["code"] == "bad_payment_code"  # nothing scanned yet
    bus.publish(
        ScanEvent(camera_id="cam-k9", role="kiosk", target="kiosk-9", symbology="QRCode", text="134567890123456789")
    )
    services = store["daemon"].ctx.own(CheckoutServices)
    # the scan is handled off the request path
    wait_for(lambda: sid in services._held, 10, "checkout to hold the scanned wallet code")
    r = c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "qr"}, headers=k)
    assert r.status_code == 200 and r.json()["payment"]["provider"] == "qr"
    assert services.take_payment_code(sid) is None  # used once, then forgotten
    view = c.get(f"/api/kiosk/sessions/{sid}", headers=k).json()
    assert view["lines"][0]["qty"] == 1  # the wallet code was not taken for a product
