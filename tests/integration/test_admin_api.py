"""The dashboard's staff actions over HTTP (the real app in-process): devices added (token once)
and revoked, logins added and disabled, a member erased; each audited with who and why. And
CSRF: every state-changing operation the OpenAPI declares, sent with a staff session cookie from
another origin (or naming none), is refused before it runs, and nothing was written."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edge.app import Daemon
from edge.facepay.models import FaceConsent, FaceMember
from tests.support.inproc import STAFF_PASSWORD, device_headers, running_app, staff_headers

OWN = "http://testserver"  # the TestClient's own origin


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Daemon]]:
    with running_app(Path(tmp_path_factory.mktemp("admin")) / "data") as pair:
        yield pair


@pytest.fixture
def staff(app: tuple[TestClient, Daemon]) -> dict[str, str]:
    return staff_headers(app[1])


def db(daemon: Daemon) -> sqlite3.Connection:
    return sqlite3.connect(daemon.settings.storage.data_dir / "edge.db")


def audit(daemon: Daemon, action: str, subject: str) -> list[tuple[str, dict[str, Any]]]:
    """(actor, detail) of each audit row of this action on this subject, oldest first."""
    with db(daemon) as conn:
        rows = conn.execute(
            "SELECT actor, detail FROM audit_event WHERE action = ? AND subject = ? ORDER BY ts", (action, subject)
        ).fetchall()
    return [(actor, json.loads(detail)) for actor, detail in rows]


def counts(daemon: Daemon) -> tuple[int, int]:
    with db(daemon) as conn:
        return (
            conn.execute("SELECT count(*) FROM audit_event").fetchone()[0],
            conn.execute("SELECT count(*) FROM outbox_event").fetchone()[0],
        )


def test_a_device_is_added_with_its_token_once_and_revoked_with_a_reason(
    app: tuple[TestClient, Daemon], staff: dict[str, str]
) -> None:
    client, daemon = app
    body = {"id": "kiosk-21", "role": "kiosk", "name": "Till by the door", "reason": "new till"}
    r = client.post("/api/admin/devices", json=body, headers=staff)
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    out = r.json()
    token = out["token"]
    want = {"id": "kiosk-21", "role": "kiosk", "name": "Till by the door", "revoked": False}
    assert {k: out["device"][k] for k in want} == want
    device = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/auth/me", headers=device).json()
    assert me == {"kind": "device", "id": "kiosk-21", "role": "kiosk", "leads_floor": False, "handheld": False}
    # shown once: no list, audit row or outbox event carries it
    assert token not in client.get("/api/admin/devices", headers=staff).text
    with db(daemon) as conn:
        stored = " ".join(str(v) for row in conn.execute("SELECT * FROM audit_event") for v in row)
        stored += " ".join(str(v) for row in conn.execute("SELECT payload FROM outbox_event") for v in row)
    assert token not in stored
    assert audit(daemon, "device.add", "kiosk-21") == [("user:it-admin", {"role": "kiosk", "reason": "new till"})]

    again = client.post("/api/admin/devices", json=body, headers=staff)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "device_exists")
    for bad in ({**body, "id": "kiosk 22"}, {**body, "role": "cashier"}, {**body, "reason": "  "}):
        r = client.post("/api/admin/devices", json=bad, headers=staff)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text

    r = client.request("DELETE", "/api/admin/devices/kiosk-21", json={"reason": "stolen"}, headers=staff)
    assert r.status_code == 200 and r.json()["revoked"] is True, r.text
    refused = client.get("/api/auth/me", headers=device)
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "bad_token")  # the very next request
    assert audit(daemon, "device.revoke", "kiosk-21") == [("user:it-admin", {"reason": "stolen"})]
    r = client.request("DELETE", "/api/admin/devices/kiosk-99", json={"reason": "gone"}, headers=staff)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "no_device")
    r = client.request("DELETE", "/api/admin/devices/kiosk-21", json={}, headers=staff)
    assert r.status_code == 422, "a revoke says why"


def test_a_login_is_added_and_disabled_with_a_reason_and_nobody_disables_themselves(
    app: tuple[TestClient, Daemon], staff: dict[str, str]
) -> None:
    client, daemon = app
    body = {"username": "floor-lead", "password": STAFF_PASSWORD, "role": "it", "reason": "new store manager"}
    r = client.post("/api/admin/users", json=body, headers=staff)
    assert r.status_code == 201, r.text
    assert r.json() == {**r.json(), "username": "floor-lead", "role": "it", "disabled": False}
    assert "password" not in r.text and "hash" not in r.text
    assert audit(daemon, "user.add", "floor-lead") == [("user:it-admin", {"role": "it", "reason": "new store manager"})]
    weak = client.post("/api/admin/users", json={**body, "username": "x2", "password": "short"}, headers=staff)
    assert (weak.status_code, weak.json()["error"]["code"]) == (400, "weak_password")
    dup = client.post("/api/admin/users", json=body, headers=staff)
    assert (dup.status_code, dup.json()["error"]["code"]) == (409, "user_exists")

    lead = client.post("/api/auth/login", json={"username": "floor-lead", "password": STAFF_PASSWORD})
    assert lead.status_code == 200
    client.cookies.clear()
    lead_headers = {"Authorization": f"Bearer {lead.json()['token']}"}
    assert client.get("/api/admin/users", headers=lead_headers).status_code == 200

    mine = client.post("/api/admin/users/floor-lead/disable", json={"reason": "oops"}, headers=lead_headers)
    assert (mine.status_code, mine.json()["error"]["code"]) == (409, "cannot_disable_self")
    r = client.post("/api/admin/users/floor-lead/disable", json={"reason": "left the company"}, headers=staff)
    assert r.status_code == 200 and r.json()["disabled"] is True, r.text
    assert client.get("/api/admin/users", headers=lead_headers).status_code == 401  # the session ended at once
    again = client.post("/api/auth/login", json={"username": "floor-lead", "password": STAFF_PASSWORD})
    assert again.status_code == 401
    assert audit(daemon, "user.disable", "floor-lead") == [("user:it-admin", {"reason": "left the company"})]
    kiosk = device_headers(daemon, "kiosk-22", "kiosk")
    r = client.post("/api/admin/users", json={**body, "username": "by-kiosk"}, headers=kiosk)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "staff_only")


def test_erasing_a_member_blanks_the_loyalty_record_and_the_face_enrolment_with_the_reason(
    app: tuple[TestClient, Daemon], staff: dict[str, str]
) -> None:
    client, daemon = app
    m = client.post("/api/checkout/members", json={"phone": "138 0013 8777", "name": "Wang"}, headers=staff)
    assert m.status_code == 201, m.text
    member = m.json()["member_id"]
    with daemon.ctx.store.write() as tx:  # enrolled for face-pay (the models are not needed to erase)
        tx.add(FaceMember(member_id=member, phone_hash="h" * 64))
        tx.add(FaceConsent(member_id=member, consent_version="v1", kiosk_id="kiosk-1", actor="test"))

    blank = client.request("DELETE", f"/api/checkout/members/{member}", json={"reason": " "}, headers=staff)
    assert (blank.status_code, blank.json()["error"]["code"]) == (400, "reason_required")
    r = client.request("DELETE", f"/api/checkout/members/{member}", json={"reason": "asked at the desk"}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json() == {"member_id": member, "loyalty_erased": True, "face_erased": True}
    with db(daemon) as conn:
        row = conn.execute("SELECT phone, name, pay_agreement FROM checkout_member WHERE id = ?", (member,))
        assert row.fetchone() == (None, "", "")
        assert conn.execute("SELECT count(*) FROM face_member WHERE member_id = ?", (member,)).fetchone() == (0,)
        consent = conn.execute("SELECT withdrawn_at IS NOT NULL FROM face_consent WHERE member_id = ?", (member,))
        assert consent.fetchone() == (1,)
        sent = [json.loads(p) for (p,) in conn.execute("SELECT payload FROM outbox_event WHERE kind = 'member.erased'")]
    assert [(e["member_id"], e["reason"]) for e in sent] == [(member, "asked at the desk")]
    assert audit(daemon, "checkout.member_erased", member) == [("user:it-admin", {"reason": "asked at the desk"})]
    assert audit(daemon, "face.erase", member) == [("user:it-admin", {"reason": "asked at the desk"})]
    # the phone number is free again: it identifies nobody on this box
    again = client.post("/api/checkout/members", json={"phone": "13800138777", "name": "New"}, headers=staff)
    assert again.status_code == 201, again.text

    r = client.request("DELETE", "/api/checkout/members/no-such-member", json={"reason": "test"}, headers=staff)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "unknown_member")


def _unsafe_operations(client: TestClient) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    ops = [
        (method.upper(), path.replace("{line_id}", "1"))
        for path, methods in paths.items()
        for method in methods
        if method in ("post", "put", "patch", "delete")
    ]
    return [(m, _fill(p)) for m, p in ops]


def _fill(path: str) -> str:
    return re.sub(r"\{\w+\}", "x1", path)


def _code(r: Any) -> tuple[int, str]:
    try:
        return r.status_code, str(r.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return r.status_code, r.headers.get("content-type", "")


def test_every_state_changing_request_riding_on_the_cookie_from_another_origin_is_refused(
    app: tuple[TestClient, Daemon],
) -> None:
    client, daemon = app
    staff_headers(daemon)  # the staff user exists
    client.cookies.clear()
    creds = {"username": "it-admin", "password": STAFF_PASSWORD}
    login = client.post("/api/auth/login", json=creds, headers={"Origin": OWN})
    assert login.status_code == 200 and "re_session" in client.cookies
    ops = _unsafe_operations(client)
    assert len(ops) > 40, "the walk found too few operations: has the OpenAPI changed shape?"
    assert ("DELETE", "/api/admin/devices/x1") in ops and ("POST", "/api/checkout/orders/x1/void") in ops
    foreign = ["http://evil.example", "http://testserver:8081", "https://testserver", "null"]
    before = counts(daemon)
    wrong: list[str] = []
    bodies = {"POST /api/admin/devices": {"id": "csrf-1", "role": "kiosk", "reason": "csrf"}}
    for method, url in ops:
        body = bodies.get(f"{method} {url}", {"reason": "csrf"})
        for origin in foreign:
            r = client.request(method, url, json=body, headers={"Origin": origin})
            if _code(r) != (403, "cross_origin_refused"):
                wrong.append(f"{method} {url} from {origin}: {r.status_code} {r.text[:100]}")
        r = client.request(method, url, json=body)  # the cookie, and no Origin at all
        if _code(r) != (403, "origin_required"):
            wrong.append(f"{method} {url} without an Origin: {r.status_code} {r.text[:100]}")
    assert not wrong, "\n".join(wrong)
    assert counts(daemon) == before, "a refused request wrote an audit row or an outbox event"
    assert "csrf-1" not in client.get("/api/admin/devices").text

    # the box's own pages are let through (the same request, from its own origin), and so are
    # scripts with a bearer token and no cookie (a browser cannot forge that header cross-site)
    own = client.post("/api/admin/devices", json=bodies["POST /api/admin/devices"], headers={"Origin": OWN})
    assert own.status_code == 201, own.text
    client.cookies.clear()
    script = client.request(
        "DELETE", "/api/admin/devices/csrf-1", json={"reason": "csrf test over"}, headers=staff_headers(daemon)
    )
    assert script.status_code == 200, script.text
