"""What an adversarial run against the live daemon found, one test per finding (each failed before
its fix): money that left twice, text the cloud refuses, out-of-range numbers, ledger lines that
lied, and tokens with more than one spelling."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.checkout.payments import PaymentFailed
from edge.checkout.service import CheckoutServices
from edge.platform.codes import PASS_PREFIX
from edge.platform.timeutil import utcnow
from tests.conftest import shared_path
from tests.integration.test_checkout_money import Faults, flaky, money_store, network, paid_order, refund
from tests.support.services import DaemonProcess
from tests.support.waits import wait_for

NEXT_YEAR = (utcnow() + timedelta(days=365)).replace(tzinfo=None).isoformat(timespec="seconds")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with money_store(Path(tmp_path_factory.mktemp("findings")) / "data") as st:
        yield st


# --- 1. a refund pays out at most what was sold, whatever the request's shape ---------------------
def test_f01_a_line_listed_three_times_refunds_at_most_its_units(store: dict[str, Any]) -> None:
    oid, key = paid_order(store, qty=1)
    thrice = {"lines": [{"line_no": 1, "qty": 1}] * 3, "reason": "listed three times"}
    r = refund(store, oid, thrice)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "bad_refund_qty"), r.text
    assert network(store).query(key).refunded_minor == 0, "the acquirer moved money for units never sold"
    oid3, key3 = paid_order(store, qty=3)
    r = refund(store, oid3, {"lines": [{"line_no": 1, "qty": 1}] * 2})
    assert r.status_code == 200, r.text
    assert r.json()["lines"] == [{"line_no": 1, "qty": 2, "amount_minor": 2 * 2990}]  # summed into one line
    assert network(store).query(key3).refunded_minor == 2 * 2990


def test_f01_a_hundred_concurrent_refunds_of_one_unit_pay_out_only_what_was_sold(store: dict[str, Any]) -> None:
    oid, key = paid_order(store, qty=3)
    body = {"lines": [{"line_no": 1, "qty": 1}], "reason": "rush"}
    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(lambda _: refund(store, oid, body).status_code, range(100)))
    assert codes.count(200) >= 1 and set(codes) <= {200, 400, 409}, codes
    assert network(store).query(key).refunded_minor == 3 * 2990, "more went back than three teas"
    receipt = store["client"].get(f"/api/orders/{oid}/receipt", headers=store["kiosk"]).json()
    assert receipt["refunded_minor"] == 3 * 2990


# --- 7. one text policy: control characters never reach the database or the outbox --------------
def test_f07_control_characters_in_staff_and_device_text_are_refused_at_the_edge(store: dict[str, Any]) -> None:
    c, staff = store["client"], store["staff"]
    coupon = {"kind": "fixed", "value": 100, "name": "Spring\x00sale", "valid_to": NEXT_YEAR}
    r = c.post("/api/checkout/coupons", json=coupon, headers=staff)
    assert r.status_code == 422 and "control character" in r.text, r.text
    r = c.post("/api/kiosk/sessions", json={"kiosk_id": "kiosk\x1b[2J"}, headers=staff)
    assert r.status_code == 422, r.text
    oid, _key = paid_order(store, qty=1)
    r = c.post(f"/api/checkout/orders/{oid}/void", json={"reason": "bad\x07bell"}, headers=staff)
    assert r.status_code == 422, r.text
    bidi = c.post("/api/checkout/coupons", json={**coupon, "name": "Sale \u202eevil"}, headers=staff)
    assert bidi.status_code == 201, bidi.text  # bidi controls are stripped, not refused
    assert "\u202e" not in c.post("/api/checkout/coupons", json={**coupon, "name": "x\u202ey"}, headers=staff).text


# --- 10. out-of-range values are a typed 422, never a 500 ------------------------------------------
def test_f10_huge_ids_offsets_and_far_dates_are_refused_with_a_code(store: dict[str, Any]) -> None:
    c, staff, kiosk = store["client"], store["staff"], store["kiosk"]
    sid = c.post("/api/kiosk/sessions", json={}, headers=kiosk).json()["session_id"]
    for method in ("patch", "delete"):
        r = c.request(method.upper(), f"/api/kiosk/sessions/{sid}/lines/{2**63}", json={"qty": 1}, headers=kiosk)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", (method, r.text)
    r = c.get(f"/api/sync/quarantine?offset={2**63}", headers=staff)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text
    far = {"kind": "fixed", "value": 100, "valid_to": "9999-12-31T23:59:59-12:00"}
    r = c.post("/api/checkout/coupons", json=far, headers=staff)
    assert r.status_code == 422 and "ten years" in r.text, r.text


# --- 12. the dashboard's transaction list says what really happened ------------------------------
def test_f12_a_failed_refund_is_not_listed_as_money_back_and_a_void_shows_once(store: dict[str, Any]) -> None:
    c, staff = store["client"], store["staff"]
    oid, _key = paid_order(store, qty=1)
    with flaky(store["daemon"], Faults(reverse_before=PaymentFailed("refused", code="refund_refused"))):
        assert refund(store, oid, {}).status_code >= 400
    rows = [r for r in c.get(f"/api/admin/transactions?q={oid}", headers=staff).json() if r["order_id"] == oid]
    assert sorted(r["kind"] for r in rows) == ["order", "refund_failed"]
    assert next(r for r in rows if r["kind"] == "refund_failed")["amount_minor"] == 0
    void_oid, _key = paid_order(store, qty=1)
    assert c.post(f"/api/checkout/orders/{void_oid}/void", json={"reason": "test"}, headers=staff).status_code == 200
    rows = [r for r in c.get(f"/api/admin/transactions?q={void_oid}", headers=staff).json()]
    assert [r["kind"] for r in rows if r["order_id"] == void_oid] == ["void"]


# --- 13. a signed token has exactly one spelling ----------------------------------------------------
def test_f13_padding_or_slack_bits_on_a_pass_are_refused(store: dict[str, Any]) -> None:
    oid, _key = paid_order(store, qty=1)
    svc = store["daemon"].ctx.own(CheckoutServices)
    token = svc.pass_token(oid)
    assert token.startswith(PASS_PREFIX)
    for variant in (token + "==", token + "=", token[:-1] + chr(ord(token[-1]) ^ 1)):
        r = store["client"].post("/api/gate/verify", json={"text": variant}, headers=store["gate"])
        assert r.status_code >= 400 and r.json()["error"]["code"] in ("pass_malformed", "pass_forged"), (
            variant,
            r.text,
        )
    r = store["client"].post("/api/gate/verify", json={"text": token}, headers=store["gate"])
    assert r.status_code == 200 and r.json()["open"] is True


# --- 2. a decompression bomb of any supported format leaves memory bounded ------------------------
def _with_size(data: bytes, fmt: str, w: int, h: int) -> bytes:
    """A real small image whose header now declares w x h: how a bomb is made."""
    b = bytearray(data)
    if fmt == "png":
        b[16:24] = w.to_bytes(4, "big") + h.to_bytes(4, "big")
    elif fmt == "webp" and b[12:16] == b"VP8L":  # lossless: 14-bit width-1 and height-1 after the 0x2F
        bits = int.from_bytes(b[21:25], "little") & ~0x0FFFFFFF | (w - 1) | (h - 1) << 14
        b[21:25] = bits.to_bytes(4, "little")
    elif fmt == "webp":  # lossy VP8: 14-bit sizes after the start code
        b[26:30] = w.to_bytes(2, "little") + h.to_bytes(2, "little")
    else:
        i = next(i for i in range(2, len(b) - 9) if b[i] == 0xFF and b[i + 1] in (0xC0, 0xC2))
        b[i + 5 : i + 9] = h.to_bytes(2, "big") + w.to_bytes(2, "big")
    return bytes(b)


def _hwm_mib(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def test_f02_decompression_bombs_of_every_format_leave_the_daemon_within_200_mib(
    tmp_path: Path, daemon_factory: type[DaemonProcess]
) -> None:
    import base64

    import cv2
    import httpx
    import numpy as np

    d = daemon_factory(
        tmp_path / "data",
        env={"RETAIL_EDGE_MQTT__URL": "mqtt://127.0.0.1:9", "RETAIL_EDGE_MODEL_DIR": str(shared_path("models"))},
    )
    d.start()
    token = d.cli("devices", "add", "kiosk-b", "--role", "kiosk").stdout.strip().split()[-1]
    kiosk = {"Authorization": f"Bearer {token}"}
    wait_for(lambda: httpx.get(d.url + "/readyz").json()["components"]["models"]["status"], 60, "the face models",
             until=lambda s: s == "ok")  # fmt: skip
    small = np.full((64, 64, 3), 128, np.uint8)
    bombs = {
        "jpeg-progressive": _with_size(
            cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes(), "jpeg", 16000, 16000
        ),
        "jpeg-baseline": _with_size(cv2.imencode(".jpg", small)[1].tobytes(), "jpeg", 16000, 16000),
        "png": _with_size(cv2.imencode(".png", small)[1].tobytes(), "png", 30000, 30000),
        "webp": _with_size(cv2.imencode(".webp", small)[1].tobytes(), "webp", 16383, 16383),
    }
    warm = cv2.imencode(".jpg", small)[1].tobytes()  # one real decode first: idle includes the decoder
    httpx.post(d.url + "/api/face/verify", json={"images_b64": [base64.b64encode(warm).decode()]}, headers=kiosk)
    assert d.proc is not None
    idle = _hwm_mib(d.proc.pid)
    for name, data in bombs.items():
        body = {"images_b64": [base64.b64encode(data).decode()] * 3}
        r = httpx.post(d.url + "/api/face/verify", json=body, headers=kiosk, timeout=60)
        if name == "jpeg-baseline":  # decoded at 1/8 a row of blocks at a time: a grey 2000x2000, no face
            assert r.status_code == 200 and r.json()["decision"] == "rejected", (name, r.text[:300])
            continue
        assert (r.status_code, r.json()["error"]["code"]) == (413, "image_too_large"), (name, r.text[:300])
    peak = _hwm_mib(d.proc.pid)
    assert peak - idle <= 200, f"the daemon's peak memory grew by {peak - idle:.0f} MiB (idle {idle:.0f} MiB)"


# --- 4. login throttling holds under concurrency and cannot lock the admin out from anywhere -------
def test_f04_concurrent_guesses_check_few_passwords_and_the_admin_still_gets_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge.access import service as access_mod
    from edge.access.service import AccessService
    from edge.platform.errors import RateLimited, Unauthorized
    from tests.support.inproc import STAFF_PASSWORD, running_app

    checked: list[int] = []
    real = access_mod._hasher

    class Counting:
        """The real argon2 hasher, counting how many passwords it checks."""

        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, stored: str, password: str) -> bool:
            checked.append(1)
            return real.verify(stored, password)

    monkeypatch.setattr(access_mod, "_hasher", Counting())
    with running_app(tmp_path / "data") as (_client, daemon):
        access = daemon.ctx.own(AccessService)
        access.add_user("it-admin", STAFF_PASSWORD)

        def guess(i: int) -> str:
            try:
                access.login("it-admin", f"guess-{i}", client="10.0.0.66")
            except (Unauthorized, RateLimited) as exc:
                return exc.code
            return "in"

        with ThreadPoolExecutor(max_workers=32) as pool:
            outcomes = list(pool.map(guess, range(100)))
        assert outcomes.count("bad_credentials") == len(checked) <= 5, (len(checked), outcomes.count("bad_credentials"))
        assert outcomes.count("login_throttled") >= 95
        for host in ("10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4"):  # five wrong tries from several places
            for i in range(5):
                with pytest.raises(Unauthorized):
                    access.login("it-admin", f"wrong-{i}", client=host)
        assert access.login("it-admin", STAFF_PASSWORD, client="10.0.0.2"), "the admin at their own desk is locked out"


# --- 11. a revoked device token stops at once, even when another process revoked it ----------------
def test_f11_a_token_revoked_by_the_cli_is_refused_on_the_very_next_request(tmp_path: Path) -> None:
    from edge.access.service import AccessService
    from edge.platform.security import Signer
    from edge.platform.store import Store
    from tests.support.inproc import device_headers, running_app

    with running_app(tmp_path / "data") as (client, daemon):
        kiosk = device_headers(daemon, "kiosk-r", "kiosk")
        assert client.get("/api/auth/me", headers=kiosk).status_code == 200  # now in the daemon's cache
        cli_store = Store.in_dir(daemon.settings.storage.data_dir)  # the CLI: another process's objects
        try:
            cli = AccessService(cli_store, Signer("session", daemon.ctx.secrets.keyring("session")))
            cli.revoke_device("kiosk-r")
        finally:
            cli_store.dispose()
        r = client.get("/api/auth/me", headers=kiosk)
        assert (r.status_code, r.json()["error"]["code"]) == (401, "bad_token")


# --- 9. a request's headers have a size limit ------------------------------------------------------
def test_f09_a_huge_header_is_refused_with_431_and_the_daemon_serves_on(daemon: DaemonProcess) -> None:
    import socket

    import httpx

    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (256 * 1024) + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while chunk := sock.recv(4096):  # until the daemon closes the connection
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b'"headers_too_large"' in answer
    assert httpx.get(daemon.url + "/healthz", headers={"X-Normal": "b" * 4000}).status_code == 200
    # a small head followed at once by a large body (an upload, in one write) is not a large head
    body = json.dumps({"username": "it-admin", "password": "x" * 1000, "pad": "p" * 300_000}).encode()
    request = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        + body
    )
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
        except ConnectionResetError:  # refused for its size and closed before reading it all
            pass
    assert not answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert answer.startswith(b"HTTP/1.1 4"), answer[:200]  # judged on its merits (no such user / too large)


# --- 3. the fitting room trusts the box's phone id, not whoever saw the door code -------------------
def test_f03_a_phone_sees_and_cancels_only_its_own_calls_and_one_address_cannot_fill_a_room(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from sqlmodel import select

    from edge.fitting.models import FittingCall
    from edge.fitting.service import FittingService
    from tests.integration.test_fitting_api import ROOMS, phone_headers
    from tests.support.inproc import running_app

    with running_app(tmp_path / "data", {"fitting": ROOMS}) as (client, daemon):
        tok = daemon.ctx.own(FittingService).codes.token("room-1")
        calls = f"/api/fitting/rooms/{tok}/calls"
        alice, mallory = phone_headers(client, tok), phone_headers(client, tok)
        mine = client.post(calls, json={"kind": "help", "note": "my size is 38"}, headers=alice).json()["call"]
        seen = client.get(f"/api/fitting/rooms/{tok}", headers=mallory).json()["calls"]
        assert seen == [], "another phone read the call and its note"
        r = client.post(f"{calls}/{mine['id']}/cancel", headers=mallory)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "not_your_call")
        r = client.post(calls, json={"kind": "help", "request_id": "steal-req-1"}, headers=mallory)
        assert r.json()["call"]["id"] != mine["id"]

        # One address rotating cookies (or sending none) cannot fill the room's slots...
        refused = 0
        for i in range(30):
            r = client.post(calls, json={"kind": "help", "note": f"flood {i}"}, headers=phone_headers(client, tok))
            refused += r.status_code == 429
        assert refused >= 27
        # ...so a shopper at another address still gets a guide
        shopper = TestClient(client.app, client=("10.0.0.7", 50000))
        r = shopper.post(calls, json={"kind": "help", "note": "zip stuck"}, headers=phone_headers(shopper, tok))
        assert r.status_code == 201, r.text

        # create+cancel cycles from one address are bounded too (no flood of messages to every handheld)
        before = _queued_count(daemon)
        cycler = TestClient(client.app, client=("10.0.0.9", 50000))
        phone = phone_headers(cycler, tok)
        for i in range(100):
            made = cycler.post(calls, json={"kind": "help", "note": f"cycle {i}"}, headers=phone)
            if made.status_code in (200, 201):
                cycler.post(f"{calls}/{made.json()['call']['id']}/cancel", headers=phone)
        with daemon.ctx.store.read() as s:
            from_cycler = s.exec(select(FittingCall).where(FittingCall.client == "10.0.0.9")).all()
        assert len(from_cycler) <= 12, f"{len(from_cycler)} calls from one address in a minute"
        assert _queued_count(daemon) - before <= 12 * 6


def _queued_count(daemon: Any) -> int:
    from sqlmodel import func, select

    from edge.platform.mqttqueue import MqttQueued

    with daemon.ctx.store.read() as s:
        return int(s.exec(select(func.count()).select_from(MqttQueued)).one())


# --- 8. a page on another port of the same host cannot change anything -----------------------------
def test_f08_a_cross_origin_body_less_staff_post_is_refused(tmp_path: Path) -> None:
    from edge.access.service import AccessService
    from tests.support.inproc import STAFF_PASSWORD, device_headers, running_app

    with running_app(tmp_path / "data") as (client, daemon):
        daemon.ctx.own(AccessService).add_user("store-it", STAFF_PASSWORD)
        login = client.post(
            "/api/auth/login",
            json={"username": "store-it", "password": STAFF_PASSWORD},
            headers={"Origin": "http://testserver"},
        )
        assert login.status_code == 200 and "re_session" in client.cookies
        kiosk = device_headers(daemon, "kiosk-c", "kiosk")
        sid = client.post("/api/kiosk/sessions", json={}, headers=kiosk).json()["session_id"]
        approve = f"/api/checkout/sessions/{sid}/age-check"
        other_port = client.post(approve, headers={"Origin": "http://testserver:9999"})
        assert (other_port.status_code, other_port.json()["error"]["code"]) == (403, "cross_origin_refused")
        assert client.post("/api/auth/logout", headers={"Origin": "http://evil.example"}).status_code == 403
        no_origin = client.post(approve)
        assert (no_origin.status_code, no_origin.json()["error"]["code"]) == (403, "origin_required")
        same = client.post(approve, headers={"Origin": "http://testserver"})
        assert same.status_code == 200, same.text
        assert client.get("/api/admin/config").status_code == 200, "the session itself still works"
