"""The phone page and guide API in-process (real SQLite, real catalog; no broker reachable,
so every MQTT message must still be sitting in the durable queue)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import select

from edge.checkout.catalog import import_products
from edge.demo.gtins import FASHION
from edge.fitting.models import FittingCall, FittingVisit
from edge.fitting.service import FittingService
from edge.platform.audit import AuditEvent
from edge.platform.mqttqueue import MqttQueued
from edge.platform.outbox import OutboxEvent
from tests.support.inproc import device_headers, running_app
from tests.support.waits import wait_for

ROOMS = {"rooms": [{"id": "room-1", "name": "Room 1", "zone": "women"}, {"id": "room-2", "zone": "men"}]}
TEE_S_WHITE, TEE_M_WHITE, TEE_L_WHITE, TEE_M_NAVY = (f[0] for f in FASHION[:4])


def _seed(daemon) -> None:  # type: ignore[no-untyped-def]
    rows = [
        {"gtin": g, "name": n, "price_minor": p, "style": st, "size": sz, "colour": c, "stock": k}
        for g, st, n, sz, c, p, k in FASHION
    ]
    report = import_products(daemon.ctx.store, rows)
    assert report.accepted == len(FASHION)


def _token(daemon, room: str = "room-1") -> str:  # type: ignore[no-untyped-def]
    return daemon.ctx.own(FittingService).codes.token(room)


def _queued(daemon) -> list[dict]:  # type: ignore[no-untyped-def]
    with daemon.ctx.store.read() as s:
        rows = s.exec(select(MqttQueued).order_by(MqttQueued.seq)).all()  # type: ignore[arg-type]
    return [dict(json.loads(r.payload), _topic=r.topic, _retain=r.retain) for r in rows]


def test_call_lifecycle_claim_resolve_release(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", {"fitting": ROOMS}) as (client, daemon):
        _seed(daemon)
        tok = _token(daemon)
        page = client.get(f"/fit/{tok}")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]

        item = client.post(f"/api/fitting/rooms/{tok}/items", json={"code": TEE_M_WHITE})
        assert item.status_code == 201, item.text
        sizes = {(v["size"], v["colour"]): v["stock"] for v in item.json()["variants"]}
        assert sizes == {("S", "white"): 4, ("M", "white"): 0, ("L", "white"): 6, ("M", "navy"): 3}

        # asking for the out-of-stock M white is refused; L white is fine
        bad = client.post(
            f"/api/fitting/rooms/{tok}/calls",
            json={"kind": "variant", "gtin": TEE_S_WHITE, "want_gtin": TEE_M_WHITE},
        )
        assert bad.status_code == 409 and bad.json()["error"]["code"] == "out_of_stock"
        r = client.post(
            f"/api/fitting/rooms/{tok}/calls",
            json={"kind": "variant", "gtin": TEE_M_WHITE, "want_gtin": TEE_L_WHITE},
        )
        assert r.status_code == 201, r.text
        call = r.json()["call"]
        assert call["state"] == "open" and call["want"] == {
            "name": "Cotton crew tee",
            "size": "L",
            "colour": "white",
        }

        guide = device_headers(daemon, "guide-1", "guide")
        other = device_headers(daemon, "guide-2", "guide")
        assert [c["id"] for c in client.get("/api/fitting/calls", headers=guide).json()] == [call["id"]]
        claimed = client.post(f"/api/fitting/calls/{call['id']}/claim", headers=guide)
        assert claimed.status_code == 200 and claimed.json()["guide_id"] == "guide-1"
        lost = client.post(f"/api/fitting/calls/{call['id']}/claim", headers=other)
        assert lost.status_code == 409 and lost.json()["error"]["code"] == "already_claimed"

        # the phone sees "claimed"
        view = client.get(f"/api/fitting/rooms/{tok}").json()
        assert [c["state"] for c in view["calls"]] == ["claimed"]

        assert client.post(f"/api/fitting/calls/{call['id']}/resolve", headers=other).status_code == 403
        lead = device_headers(daemon, "supervisor-1", "supervisor")  # takes over the call guide-1 left
        done = client.post(f"/api/fitting/calls/{call['id']}/resolve", headers=lead, json={"release": True})
        assert done.status_code == 200 and done.json()["state"] == "resolved"

        with daemon.ctx.store.read() as s:
            visit = s.exec(select(FittingVisit)).one()
            kinds = [e.kind for e in s.exec(select(OutboxEvent).where(OutboxEvent.stream == "fitting")).all()]
        assert visit.end_reason == "released" and visit.ended_at is not None
        assert kinds == ["call.open", "call.claimed", "call.resolved"]
        msgs = [m for m in _queued(daemon) if m["_topic"].endswith("/room-1/call")]
        assert [m["state"] for m in msgs] == ["open", "claimed", "resolved"]
        assert len({m["event_id"] for m in msgs}) == 3
        states = [m for m in _queued(daemon) if m["_topic"] == "retail/test-store/fitting/room-1/state"]
        assert [(m["active_calls"], m["_retain"]) for m in states] == [(1, True), (1, True), (0, True)]
        stats = client.get("/api/fitting/stats", headers=guide).json()
        assert stats[0]["guide_id"] == "guide-1" and stats[0]["resolved"] == 1


def test_phone_needs_a_valid_room_code_and_guides_a_device(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", {"fitting": ROOMS}) as (client, daemon):
        tok = _token(daemon)
        kid, body, mac = tok.split(".")
        forged_body = body.replace(body[2], "A" if body[2] != "A" else "B", 1)
        for bad, status in ((f"{kid}.{forged_body}.{mac}", 403), ("not-a-token", 400), ("k9.e30.AAAA", 403)):
            r = client.get(f"/fit/{bad}")
            assert r.status_code == status
            assert "scan the code on the door" in r.text and "Traceback" not in r.text and bad not in r.text
            zh = client.get(f"/fit/{bad}", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
            assert zh.status_code == status and "请扫描门上的二维码" in zh.text and 'lang="zh-CN"' not in zh.text
            assert "<html lang=zh-CN>" in zh.text and bad not in zh.text
            api = client.post(f"/api/fitting/rooms/{bad}/calls", json={"kind": "help"})
            assert api.status_code == 403 and api.json()["error"]["code"] == "bad_room_code"
        with daemon.ctx.store.read() as s:
            refusals = s.exec(select(AuditEvent).where(AuditEvent.action == "fitting.room_code_refused")).all()
        assert len(refusals) == 9  # each refused page (English and Chinese) and API call is audited
        assert client.get("/api/fitting/calls").status_code == 401
        kiosk = device_headers(daemon, "kiosk-1", "kiosk")
        assert client.get("/api/fitting/calls", headers=kiosk).status_code == 403


def phone_headers(client: TestClient, token: str) -> dict[str, str]:
    """A new phone: the room page's cookie (the box's phone id), as a header of its own."""
    saved = dict(client.cookies)
    client.cookies.clear()
    cookie = client.get(f"/fit/{token}").cookies["re_phone"]
    client.cookies.clear()
    client.cookies.update(saved)
    return {"Cookie": f"re_phone={cookie}"}


def test_duplicates_merge_retries_dedupe_and_phones_are_rate_limited(tmp_path: Path) -> None:
    cfg = {"fitting": {**ROOMS, "calls_per_phone_per_minute": 3, "active_calls_per_phone": 10}}
    with running_app(tmp_path / "data", cfg) as (client, daemon):
        tok = _token(daemon)
        phone, phone_b = phone_headers(client, tok), phone_headers(client, tok)
        first = client.post(
            f"/api/fitting/rooms/{tok}/calls", json={"kind": "help", "note": "Zip stuck"}, headers=phone
        )
        again = client.post(
            f"/api/fitting/rooms/{tok}/calls", json={"kind": "help", "note": " zip  STUCK"}, headers=phone
        )
        assert first.status_code == 201 and again.status_code == 200
        assert again.json()["merged"] and again.json()["call"]["id"] == first.json()["call"]["id"]
        body = {"kind": "help", "note": "hanger please", "request_id": "req-0000001"}
        r1 = client.post(f"/api/fitting/rooms/{tok}/calls", json=body, headers=phone)
        guide = device_headers(daemon, "guide-1", "guide")
        client.post(f"/api/fitting/calls/{r1.json()['call']['id']}/claim", headers=guide)
        r2 = client.post(f"/api/fitting/rooms/{tok}/calls", json=body, headers=phone)  # a retried POST
        assert r2.status_code == 200 and r2.json()["call"]["id"] == r1.json()["call"]["id"]
        client.post(f"/api/fitting/rooms/{tok}/calls", json={"kind": "help", "note": "third"}, headers=phone)
        limited = client.post(f"/api/fitting/rooms/{tok}/calls", json={"kind": "help", "note": "4th"}, headers=phone)
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "too_many_calls"
        other = client.post(
            f"/api/fitting/rooms/{tok}/calls",
            json={"kind": "help", "note": "4th"},
            headers=phone_b,
        )
        assert other.status_code == 201
        with daemon.ctx.store.read() as s:
            assert len(s.exec(select(FittingCall)).all()) == 4


def test_hostile_note_is_neutralised(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", {"fitting": ROOMS}) as (client, daemon):
        tok = _token(daemon)
        control = client.post(f"/api/fitting/rooms/{tok}/calls", json={"kind": "help", "note": "a\x1b[31mb\x00"})
        assert control.status_code == 422 and "control character" in control.text  # the one text policy
        note = '<script>alert(1)</script>\r\n\r\nevent: call\ndata: {"forged":1}\u202eevil'
        r = client.post(f"/api/fitting/rooms/{tok}/calls", json={"kind": "help", "note": note})
        assert r.status_code == 201
        stored = r.json()["call"]["note"]
        assert "\u202e" not in stored and "\r" not in stored
        assert r.headers["content-type"].startswith("application/json")
        from edge.fitting.sse import frame

        sse = frame("call", r.json()["call"])
        assert sse.count("\ndata: ") == 1 and sse.endswith("\n\n") and sse.count("\n\n") == 1
        # The markup and the forged SSE lines are the shopper's text: carried verbatim, as data.
        assert stored == '<script>alert(1)</script>\n\nevent: call\ndata: {"forged":1}evil'
        assert json.loads(sse.split("\ndata: ", 1)[1])["note"] == stored
        guide = device_headers(daemon, "guide-1", "guide")
        assert [c["note"] for c in client.get("/api/fitting/calls", headers=guide).json()] == [stored]
        assert [c["note"] for c in client.get(f"/api/fitting/rooms/{tok}").json()["calls"]] == [stored]
        assert _queued(daemon)[0]["note"] == stored
        with daemon.ctx.store.read() as s:
            [row] = s.exec(select(OutboxEvent).where(OutboxEvent.kind == "call.open")).all()
        assert json.loads(row.payload)["note"] == stored
        # No server-rendered HTML carries it: the phone page is static and puts notes in textContent.
        assert "alert(1)" not in client.get(f"/fit/{tok}").text


def test_unclaimed_call_escalates_per_zone(tmp_path: Path) -> None:
    cfg = {"fitting": {**ROOMS, "escalate_after_s": 600, "zone_escalate_after_s": {"women": 1}}}
    with running_app(tmp_path / "data", cfg) as (client, daemon):
        r1 = client.post(f"/api/fitting/rooms/{_token(daemon, 'room-1')}/calls", json={"kind": "help"})
        r2 = client.post(f"/api/fitting/rooms/{_token(daemon, 'room-2')}/calls", json={"kind": "help"})
        guide = device_headers(daemon, "guide-1", "guide")
        wait_for(
            lambda: client.get(f"/api/fitting/calls/{r1.json()['call']['id']}", headers=guide).json()["state"],
            20,
            "room 1's call (women: 1 s) to escalate",
            until=lambda state: state == "escalated",
        )
        assert client.get(f"/api/fitting/calls/{r2.json()['call']['id']}", headers=guide).json()["state"] == "open"
        topics = [m["_topic"] for m in _queued(daemon) if m.get("state") == "escalated"]
        assert sorted(topics) == [
            "retail/test-store/fitting/escalations",
            "retail/test-store/fitting/room-1/call",
        ]
        # an escalated call can still be claimed and resolved
        cid = r1.json()["call"]["id"]
        assert client.post(f"/api/fitting/calls/{cid}/claim", headers=guide).json()["state"] == "claimed"


def test_shopper_can_cancel_and_bad_requests_get_typed_errors(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", {"fitting": ROOMS}) as (client, daemon):
        t1, t2 = _token(daemon, "room-1"), _token(daemon, "room-2")
        call = client.post(f"/api/fitting/rooms/{t1}/calls", json={"kind": "help"}).json()["call"]
        assert client.post(f"/api/fitting/rooms/{t2}/calls/{call['id']}/cancel").status_code == 404
        done = client.post(f"/api/fitting/rooms/{t1}/calls/{call['id']}/cancel")
        assert done.status_code == 200 and done.json()["state"] == "cancelled"
        guide = device_headers(daemon, "guide-1", "guide")
        late = client.post(f"/api/fitting/calls/{call['id']}/claim", headers=guide)
        assert late.status_code == 409 and late.json()["error"]["code"] == "call_cancelled"
        assert client.get(f"/api/fitting/calls/{'x' * 30}", headers=guide).json()["error"]["code"] == "no_call"
        r = client.get(f"/api/fitting/calls/{'x' * 300}", headers=guide)  # not an id the box gives out
        assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_request")
        for body, code in (
            ({"kind": "variant", "gtin": "4006381333931"}, "variant_required"),
            ({"kind": "bring"}, "item_required"),
            ({"kind": "help", "want_gtin": "4006381333931"}, "unexpected_variant"),
            ({"kind": "bring", "gtin": "12345"}, "invalid_gtin"),
            ({"kind": "shout"}, "invalid_request"),
            ({"kind": "help", "note": "x" * 281}, "invalid_request"),
        ):
            r = client.post(f"/api/fitting/rooms/{t1}/calls", json=body)
            assert r.status_code in (400, 422) and r.json()["error"]["code"] == code, (body, r.text)
        bad_item = client.post(f"/api/fitting/rooms/{t1}/items", json={"code": "abc"})
        assert bad_item.json()["error"]["code"] == "invalid_gtin"
        with daemon.ctx.store.read() as s:
            assert len(s.exec(select(FittingCall)).all()) == 1  # nothing half-written by the refusals
