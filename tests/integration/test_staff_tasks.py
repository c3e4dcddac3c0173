"""Staff tasks on the real app: ID checks, "call staff" and exit rescans reach the handhelds'
queue (and the durable MQTT queue), are claimed once, answered once, and change the cart or the
member's audit history as a person decided; unclaimed ones escalate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import pytest
from sqlalchemy import update
from sqlmodel import col, select

from edge.checkout.catalog import import_products
from edge.checkout.models import ExitAudit, StaffTask
from edge.checkout.tasks import StaffTasks
from edge.demo import media
from edge.demo.catalog import RICE_WINE, demo_rows
from edge.demo.gtins import GROCERY
from edge.platform.audit import AuditEvent
from edge.platform.mqttqueue import MqttQueued
from edge.platform.timeutil import utcnow
from tests.support.inproc import device_headers, running_app, staff_headers
from tests.support.phone import go_headers

TEA = GROCERY[0][0]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    cfg = {"checkout": {"audit_share": 1.0}}  # every pass is rescanned: the exit-audit task is certain
    with running_app(Path(tmp_path_factory.mktemp("tasks")) / "data", cfg) as (client, daemon):
        assert not import_products(daemon.ctx.store, demo_rows("CNY")).refused
        yield {
            "c": client, "d": daemon, "kiosk": device_headers(daemon, "kiosk-1", "kiosk"),
            "guide": device_headers(daemon, "guide-1", "guide"), "guide2": device_headers(daemon, "guide-2", "guide"),
            "manager": device_headers(daemon, "manager-1", "manager"),
            "supervisor": device_headers(daemon, "supervisor-1", "supervisor"),
            "gate": device_headers(daemon, "gate-1", "gate"), "staff": staff_headers(daemon),
        }  # fmt: skip


def cart_with(shop: dict[str, Any], *codes: str) -> str:
    c, k = shop["c"], shop["kiosk"]
    sid = c.post("/api/kiosk/sessions", json={}, headers=k).json()["session_id"]
    for code in codes:
        assert c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": code}, headers=k).status_code == 201
    return str(sid)


def task_for(shop: dict[str, Any], kind: str, **match: str) -> dict[str, Any]:
    tasks = shop["c"].get("/api/staff/tasks", headers=shop["guide"]).json()
    found = [t for t in tasks if t["kind"] == kind and all(t.get(k) == v for k, v in match.items())]
    assert len(found) == 1, tasks
    return dict(found[0])


def queued(shop: dict[str, Any], topic_end: str) -> list[dict[str, Any]]:
    with shop["d"].ctx.store.read() as s:
        rows = s.exec(select(MqttQueued).where(col(MqttQueued.topic).endswith(topic_end))).all()
    return [json.loads(r.payload) for r in rows]


def test_an_id_check_is_claimed_once_and_approval_lets_the_kiosk_pay(shop: dict[str, Any]) -> None:
    c = shop["c"]
    sid = cart_with(shop, TEA, RICE_WINE)
    task = task_for(shop, "id_check", session_id=sid)
    assert task["state"] == "open" and task["place"] == "kiosk-1" and task["detail"]["name"] == "Rice wine 500 ml"
    assert any(m["id"] == task["id"] and m["state"] == "open" for m in queued(shop, "/staff/task")), "durable MQTT"
    url = f"/api/staff/tasks/{task['id']}"
    assert c.post(f"{url}/claim", headers=shop["guide"]).json()["state"] == "claimed"
    assert c.post(f"{url}/claim", headers=shop["guide"]).status_code == 200, "a retried claim is the same claim"
    taken = c.post(f"{url}/claim", headers=shop["guide2"])
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "task_taken"
    assert "guide-1" in taken.json()["error"]["message"]
    bad = c.post(f"{url}/resolve", json={"outcome": "match"}, headers=shop["guide"])
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_outcome"
    stolen = c.post(f"{url}/resolve", json={"outcome": "approved"}, headers=shop["guide2"])
    assert stolen.status_code == 409 and stolen.json()["error"]["code"] == "task_taken", "claimed by guide-1"
    done = c.post(f"{url}/resolve", json={"outcome": "approved"}, headers=shop["guide"]).json()
    assert done["state"] == "done" and done["outcome"] == "approved"
    r = c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=shop["kiosk"])
    assert r.status_code == 200, r.text
    with shop["d"].ctx.store.read() as s:
        actions = {a.action for a in s.exec(select(AuditEvent).where(AuditEvent.subject == task["id"]))}
    assert {"checkout.task_id_check", "checkout.task_claimed", "checkout.task_approved"} <= actions


@pytest.mark.parametrize("lead", ["supervisor", "manager"])
def test_a_supervisor_or_manager_takes_over_a_task_a_guide_claimed_and_left(shop: dict[str, Any], lead: str) -> None:
    c = shop["c"]
    sid = cart_with(shop, TEA, RICE_WINE)
    url = f"/api/staff/tasks/{task_for(shop, 'id_check', session_id=sid)['id']}"
    assert c.post(f"{url}/claim", headers=shop["guide"]).status_code == 200
    assert c.get("/api/staff/tasks", headers=shop[lead]).is_success, "a lead's handheld sees the queue"
    done = c.post(f"{url}/resolve", json={"outcome": "approved"}, headers=shop[lead])
    assert done.status_code == 200 and done.json()["outcome"] == "approved", done.text
    assert done.json()["claimed_by"] == "device:guide-1", "the claim stays on record"


def test_a_refused_id_check_takes_the_restricted_items_out_and_says_why(shop: dict[str, Any]) -> None:
    c = shop["c"]
    sid = cart_with(shop, TEA, RICE_WINE)
    task = task_for(shop, "id_check", session_id=sid)
    url = f"/api/staff/tasks/{task['id']}/resolve"
    r = c.post(url, json={"outcome": "refused"}, headers=shop["guide"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "reason_required"
    r = c.post(url, json={"outcome": "refused", "reason": "no ID shown"}, headers=shop["guide"])
    assert r.json()["outcome"] == "refused" and r.json()["claimed_by"], "answering claims it too"
    cart = c.get(f"/api/kiosk/sessions/{sid}", headers=shop["kiosk"]).json()
    assert [line["gtin"] for line in cart["lines"]] == ["0" + TEA] and cart["age_check"] == "not_needed"
    again = c.post(url, json={"outcome": "approved"}, headers=shop["guide"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "task_done"
    assert c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=shop["kiosk"]).is_success


def test_call_staff_from_a_kiosk_and_a_phone(shop: dict[str, Any]) -> None:
    c = shop["c"]
    sid = cart_with(shop, TEA)
    first = c.post(f"/api/kiosk/sessions/{sid}/help", headers=shop["kiosk"]).json()
    assert c.post(f"/api/kiosk/sessions/{sid}/help", headers=shop["kiosk"]).json()["id"] == first["id"], "one per cart"
    other = device_headers(shop["d"], "kiosk-2", "kiosk")
    assert c.post(f"/api/kiosk/sessions/{sid}/help", headers=other).status_code == 403
    done = c.post(f"/api/staff/tasks/{first['id']}/resolve", json={"outcome": "helped"}, headers=shop["guide"])
    assert done.json()["state"] == "done"
    press = {"request_id": "press-1"}
    asked = c.post(f"/api/kiosk/sessions/{sid}/help", json=press, headers=shop["kiosk"]).json()
    assert asked["id"] != first["id"] and asked["state"] == "open", "a new press after an answer is a new task"
    c.post(f"/api/staff/tasks/{asked['id']}/resolve", json={"outcome": "helped"}, headers=shop["guide"])
    resent = c.post(f"/api/kiosk/sessions/{sid}/help", json=press, headers=shop["kiosk"]).json()
    assert resent["id"] == asked["id"] and resent["state"] == "done", "a resent press is not a second task"
    bad = c.post(f"/api/kiosk/sessions/{sid}/help", json={"request_id": "<x>"}, headers=shop["kiosk"])
    assert bad.status_code == 422
    phone = go_headers(c, shop["d"])
    psid = c.get("/api/go/state", headers=phone).json()["cart"]["session_id"]
    asked = c.post(f"/api/go/carts/{psid}/help", headers=phone)
    assert asked.status_code == 201 and asked.json()["place"].startswith("phone-")
    assert task_for(shop, "kiosk_help", session_id=psid)["state"] == "open"


def test_a_flagged_pass_becomes_a_rescan_task_whose_answer_is_recorded(shop: dict[str, Any]) -> None:
    c = shop["c"]
    sid = cart_with(shop, TEA)
    order = c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=shop["kiosk"]).json()
    assert c.post("/api/gate/verify", json={"text": order["exit_pass"]}, headers=shop["gate"]).json()["audit"]
    task = task_for(shop, "exit_audit", order_id=order["order_id"])
    assert task["place"] == "gate-1" and task["detail"]["items"][0]["gtin"] == "0" + TEA
    assert "random" in task["detail"]["reasons"]
    url = f"/api/staff/tasks/{task['id']}/resolve"
    r = c.post(url, json={"outcome": "mismatch"}, headers=shop["guide"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_items_required"
    missing = [{"gtin": "0" + GROCERY[1][0], "qty": 1}]
    answer = c.post(url, json={"outcome": "mismatch", "missing": missing}, headers=shop["guide"]).json()
    # the missing item goes into a corrective sale that staff take payment for at a staffed till
    fix = answer["corrective"]
    assert [(ln["gtin"], ln["qty"]) for ln in fix["lines"]] == [("0" + GROCERY[1][0], 1)] and fix["total_minor"] > 0
    paid = c.post(f"/api/kiosk/sessions/{fix['session_id']}/checkout", json={"provider": "sandbox"},
                  headers=shop["staff"])  # fmt: skip
    assert paid.status_code == 200 and paid.json()["total_minor"] == fix["total_minor"], paid.text
    with shop["d"].ctx.store.read() as s:
        audit = s.get(ExitAudit, order["order_id"])
    assert audit is not None and audit.result == "mismatch" and json.loads(audit.missing) == missing


def test_a_task_nobody_claims_escalates_once(shop: dict[str, Any]) -> None:
    c, d = shop["c"], shop["d"]
    sid = cart_with(shop, TEA)
    task = c.post(f"/api/kiosk/sessions/{sid}/help", headers=shop["kiosk"]).json()
    tasks = d.ctx.own(StaffTasks)
    assert tasks.escalate_due() == 0, "not yet due"
    old = utcnow() - timedelta(seconds=d.settings.checkout.task_escalate_s + 1)
    with d.ctx.store.write() as s:
        s.execute(update(StaffTask).where(col(StaffTask.id) == task["id"]).values(created_at=old))
    # the daemon's own housekeeping may escalate it first: either way, exactly once
    assert tasks.escalate_due() in (0, 1) and tasks.escalate_due() == 0
    assert task_for(shop, "kiosk_help", session_id=sid)["escalated"] == 1
    assert [m["id"] for m in queued(shop, "/staff/escalation")][-1] == task["id"]


def test_a_handhelds_camera_frame_reads_codes_and_refuses_what_is_not_an_image(shop: dict[str, Any]) -> None:
    c, url = shop["c"], "/api/staff/frames"
    art = media.product_pack(TEA, "Jasmine tea", (40, 90, 170))
    canvas = media.place(media.background((640, 480), 3), art, (640 - art.shape[1]) // 2, (480 - art.shape[0]) // 2)
    jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    read: list[dict[str, Any]] = []
    for n in range(6):  # confirmation takes a few frames of the same code, as at a kiosk camera
        r = c.post(url, content=jpeg, headers={**shop["guide"], "Content-Type": "image/jpeg", "X-Frame-Id": f"f-{n}"})
        assert r.status_code == 200, r.text
        read += r.json()["codes"]
        if read:
            break
    assert [code["gtin"] for code in read] == ["0" + TEA]
    bad = c.post(url, content=b"not an image", headers={**shop["guide"], "Content-Type": "image/jpeg"})
    assert bad.status_code in (400, 415, 422) and bad.json()["error"]["code"], bad.text
    assert c.post(url, content=jpeg, headers=shop["kiosk"]).status_code == 403, "a kiosk is not a handheld"
