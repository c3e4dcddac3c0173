"""Access: the dashboard/admin API refuses anonymous and bad credentials and accepts good ones."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from edge.access.service import AccessService
from edge.app import Daemon
from tests.support.inproc import STAFF_PASSWORD, device_headers, staff_headers


def test_admin_api_refuses_anonymous_and_bad_tokens(app_client: tuple[TestClient, Daemon]) -> None:
    client, _ = app_client
    r = client.get("/api/admin/config")
    assert r.status_code == 401 and r.json()["error"]["code"] == "no_credentials"
    for bad in ("Bearer nonsense", "Bearer dev_unknown", "Bearer k1.e30.AAAA"):
        r = client.get("/api/admin/config", headers={"Authorization": bad})
        assert r.status_code == 401, bad
        assert r.json()["error"]["code"] in (
            "bad_token",
            "session_malformed",
            "session_unknown_key",
            "session_bad_signature",
        )


def test_staff_login_works_by_cookie_and_bearer(app_client: tuple[TestClient, Daemon]) -> None:
    client, daemon = app_client
    daemon.ctx.own(AccessService).add_user("store-it", STAFF_PASSWORD)
    r = client.post("/api/auth/login", json={"username": "store-it", "password": "wrong password!"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_credentials"
    r = client.post("/api/auth/login", json={"username": "nobody", "password": STAFF_PASSWORD})
    assert r.status_code == 401
    r = client.post("/api/auth/login", json={"username": "store-it", "password": STAFF_PASSWORD})
    assert r.status_code == 200
    assert "re_session" in r.cookies
    cfg = client.get("/api/admin/config")  # the cookie alone
    assert cfg.status_code == 200
    assert cfg.json()["store"]["id"] == "test-store"
    client.cookies.clear()
    assert client.get("/api/admin/config", headers={"Authorization": "Bearer " + r.json()["token"]}).status_code == 200
    assert client.get("/api/auth/me", headers={"Authorization": "Bearer " + r.json()["token"]}).json() == {
        "kind": "user",
        "id": "store-it",
        "role": "it",
        "leads_floor": True,
        "handheld": True,
    }


def test_device_tokens_identify_devices_but_do_not_open_the_dashboard(app_client: tuple[TestClient, Daemon]) -> None:
    client, daemon = app_client
    headers = device_headers(daemon, "kiosk-9", "kiosk")
    me = client.get("/api/auth/me", headers=headers)
    assert me.json() == {"kind": "device", "id": "kiosk-9", "role": "kiosk", "leads_floor": False, "handheld": False}
    r = client.get("/api/admin/config", headers=headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "staff_only"
    daemon.ctx.own(AccessService).revoke_device("kiosk-9")
    assert client.get("/api/auth/me", headers=headers).status_code == 401


def test_tampered_session_is_refused(app_client: tuple[TestClient, Daemon]) -> None:
    client, daemon = app_client
    headers = staff_headers(daemon)
    token = headers["Authorization"].split()[1]
    kid, body, mac = token.split(".")
    forged = f"{kid}.{body[:-2]}xx.{mac}"
    r = client.get("/api/admin/config", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


def test_health_answers_without_credentials_and_errors_are_typed(app_client: tuple[TestClient, Daemon]) -> None:
    client, _ = app_client
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    r = client.get("/api/no/such/thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.post("/api/auth/login", json={"username": 3})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_secrets_are_created_0600_on_first_start(app_client: tuple[TestClient, Daemon], tmp_path: Path) -> None:
    _client, daemon = app_client
    staff_headers(daemon)
    secrets_dir = daemon.settings.storage.data_dir / "secrets"
    files = list(secrets_dir.iterdir())
    assert files
    assert oct(secrets_dir.stat().st_mode & 0o777) == "0o700"
    for f in files:
        assert oct(f.stat().st_mode & 0o777) == "0o600", f


def test_logout_and_disabling_end_sessions_everywhere(app_client: tuple[TestClient, Daemon]) -> None:
    client, daemon = app_client
    access = daemon.ctx.own(AccessService)
    access.add_user("store-it", STAFF_PASSWORD)
    first = client.post("/api/auth/login", json={"username": "store-it", "password": STAFF_PASSWORD}).json()["token"]
    client.cookies.clear()
    second = access.login("store-it", STAFF_PASSWORD)
    bearer = {"Authorization": f"Bearer {first}"}
    assert client.get("/api/admin/config", headers=bearer).status_code == 200
    assert client.post("/api/auth/logout", headers=bearer).status_code == 200
    for token in (first, second):  # the other browser's session ends too
        r = client.get("/api/admin/config", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "session_ended"
    third = access.login("store-it", STAFF_PASSWORD)
    assert client.get("/api/admin/config", headers={"Authorization": f"Bearer {third}"}).status_code == 200
    access.end_sessions("store-it", actor="test", disable=True)
    assert client.get("/api/admin/config", headers={"Authorization": f"Bearer {third}"}).status_code == 401
    r = client.post("/api/auth/login", json={"username": "store-it", "password": STAFF_PASSWORD})
    assert r.status_code == 401


def test_password_guessing_is_throttled_before_hashing(app_client: tuple[TestClient, Daemon]) -> None:
    import sqlite3

    client, daemon = app_client
    daemon.ctx.own(AccessService).add_user("store-it", STAFF_PASSWORD)
    codes = [
        client.post("/api/auth/login", json={"username": "store-it", "password": f"guess-{i}"}).status_code
        for i in range(8)
    ]
    assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3
    r = client.post("/api/auth/login", json={"username": "store-it", "password": STAFF_PASSWORD})
    assert r.status_code == 429 and r.json()["error"]["code"] == "login_throttled"
    assert r.json()["error"]["details"]["retry_after_s"] > 0
    db = daemon.settings.storage.data_dir / "edge.db"
    with sqlite3.connect(db) as conn:
        failed = conn.execute("SELECT count(*) FROM audit_event WHERE action='auth.login_failed'").fetchone()[0]
    assert failed == 5, "a throttled guess writes nothing"
    long_name = client.post("/api/auth/login", json={"username": "x" * 10_000, "password": "p"})
    assert long_name.status_code == 422


def test_device_last_seen_is_recorded(app_client: tuple[TestClient, Daemon]) -> None:
    client, daemon = app_client
    headers = device_headers(daemon, "guide-7", "guide")
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    devices = client.get("/api/admin/devices", headers=staff_headers(daemon)).json()
    seen = {d["id"]: d["last_seen_at"] for d in devices}
    assert seen["guide-7"] is not None


def test_oversized_bodies_are_refused_before_anything_reads_them(app_client: tuple[TestClient, Daemon]) -> None:
    client, _ = app_client
    big = b'{"username": "' + b"x" * (300 * 1024) + b'", "password": "p"}'
    r = client.post("/api/auth/login", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 10_000

    r = client.post("/api/auth/login", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413, "a chunked body without Content-Length is counted too"
    r = client.post(
        "/api/face/enroll", content=b"{" + b" " * (2 * 1024 * 1024) + b"}", headers={"content-type": "application/json"}
    )
    assert r.status_code != 413, "face uploads have room for images (then auth refuses this one)"
    assert r.status_code == 401


# Who may call each operation: "public", "any" (any principal), "staff", or the device roles
# (staff may act for any device role). A route missing here fails the test below: say who may.
ACCESS: dict[str, str] = {
    "GET /healthz": "public",
    "GET /readyz": "public",
    "GET /metrics": "public",  # the store LAN's Prometheus scrape; no ids, no money
    "GET /api/ui/store": "public",  # store name, currency, languages for the pages
    "POST /api/auth/login": "public",
    "POST /api/auth/logout": "any",
    "GET /api/auth/me": "any",
    "GET /api/ui/qr.svg": "any",
    "POST /api/ui/qr.svg": "any",
    "POST /api/gate/verify": "gate",
    # between the boxes of a store: the store's peer token, bound to the body, is the credential (403 without)
    "POST /api/peer/gate/verify": "peer",
    "POST /api/peer/passes/revoke": "peer",
    "POST /api/payments/{rail}/notify": "public",  # a gateway's notification: its signature is the credential
    "GET /api/fitting/rooms": "guide",
    "GET /api/fitting/calls": "guide",
    "GET /api/fitting/calls/{call_id}": "guide",
    "POST /api/fitting/calls/{call_id}/claim": "guide",
    "POST /api/fitting/calls/{call_id}/resolve": "guide",
    "GET /api/fitting/events": "guide",
    "GET /api/fitting/stats": "guide",
    "GET /api/fitting/guide-code": "guide",  # the handheld's own personal code
    "GET /api/fitting/performance": "staff",  # the dashboard's guides and styles
    "GET /api/staff/tasks": "guide",  # the staff handhelds' queue: guide, supervisor and manager devices, and staff
    "POST /api/staff/tasks/{task_id}/claim": "guide",
    "POST /api/staff/tasks/{task_id}/resolve": "guide",
    "GET /api/staff/events": "guide",
    "POST /api/staff/frames": "guide",  # a handheld camera's frames during an exit rescan
    "GET /api/gate/events": "gate",  # the gate screen's live feed
    # the dashboard's staff actions (each with a reason, audited with who)
    "POST /api/admin/devices": "staff",
    "DELETE /api/admin/devices/{device_id}": "staff",
    "POST /api/admin/users": "staff",
    "POST /api/admin/users/{username}/disable": "staff",
    "DELETE /api/checkout/members/{member_id}": "staff",
}
KIOSK_PREFIXES = ("/api/kiosk/", "/api/orders/", "/api/face/enroll", "/api/face/verify", "/api/ui/kiosk/")
STAFF_PREFIXES = ("/api/admin/", "/api/sync/", "/api/checkout/", "/api/cameras", "/api/face/members", "/api/face/count")
ROOM_PREFIX = "/api/fitting/rooms/{token}"  # the door code is the credential: a forged one is 403 for all
PHONE_PREFIX = "/api/go/"  # the phone's cookie (set by the entry page) is the credential: none here has one


def _who_may(op: str) -> str:
    path = op.split(" ", 1)[1]
    if op in ACCESS:
        return ACCESS[op]
    if path.startswith(ROOM_PREFIX):
        return "room"
    if path.startswith(PHONE_PREFIX):
        return "phone"
    if path.startswith(KIOSK_PREFIXES):
        return "kiosk"
    if path.startswith(STAFF_PREFIXES):
        return "staff"
    raise AssertionError(f"{op}: not in the access table of this test; say who may call it")


def test_every_operation_refuses_whoever_may_not_call_it(app_client: tuple[TestClient, Daemon]) -> None:
    """The OpenAPI walked under five identities: each is refused exactly where the table says."""
    client, daemon = app_client
    who = {
        "anonymous": {},
        "kiosk": device_headers(daemon, "kiosk-w", "kiosk"),
        "guide": device_headers(daemon, "guide-w", "guide"),
        "gate": device_headers(daemon, "gate-w", "gate"),
        "staff": staff_headers(daemon),
    }
    wrong: list[str] = []
    paths = client.get("/openapi.json").json()["paths"]
    operations = [(path, method, spec) for path, ops in paths.items() for method, spec in ops.items()]
    operations.sort(key=lambda o: o[0] == "/api/auth/logout")  # last: it ends the staff session
    for path, method, spec in operations:
        url = re.sub(r"{line_id}", "1", re.sub(r"{(?!line_id)\w+}", "x1", path))
        op = f"{method.upper()} {path}"
        rule = _who_may(op)
        streams = "text/event-stream" in spec["responses"].get("200", {}).get("content", {})
        for name, headers in who.items():
            allowed = rule == "public" or (rule == "any" and name != "anonymous")
            allowed |= rule in ("kiosk", "gate", "guide") and name in (rule, "staff")
            allowed |= rule == "staff" and name == "staff"
            if streams and allowed:
                continue  # a stream that is let in does not end; its refusals are what is checked
            body: dict[str, Any] | None = {} if method in ("post", "patch", "put") else None
            r = client.request(method.upper(), url, headers={**headers, "Origin": "http://testserver"}, json=body)
            refused = r.status_code in (401, 403)
            if rule == "peer":
                ok = r.status_code == 403 and r.json()["error"]["code"] == "peer_refused"
            elif rule == "room":
                ok = r.status_code == 403 and r.json()["error"]["code"] == "bad_room_code"
            elif rule == "phone":
                ok = r.status_code == 401 and r.json()["error"]["code"] == "no_phone_session"
            elif allowed:
                ok = not refused
            else:
                ok = r.status_code == (401 if name == "anonymous" else 403)
            if not ok:
                wrong.append(f"{op} as {name}: {r.status_code} {r.text[:120]}")
    assert not wrong, "\n".join(wrong)
