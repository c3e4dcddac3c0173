"""Guides get credit: a sale of items tried on in a room whose call a guide claimed, and a sale
whose cart scanned a guide's personal code, credit that guide; the dashboard's figures per guide
and per style follow, the order's event carries the attribution, and a void takes it back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from edge.checkout.models import Attribution
from edge.platform.gs1 import normalise_gtin
from edge.platform.outbox import OutboxEvent
from tests.integration.test_fitting_api import ROOMS, _seed, _token
from tests.integration.test_fitting_api import TEE_L_WHITE as L_WHITE
from tests.integration.test_fitting_api import TEE_M_NAVY as M_NAVY
from tests.integration.test_fitting_api import TEE_S_WHITE as S_WHITE
from tests.support.inproc import device_headers, running_app, staff_headers

# an order line's GTIN is the GTIN-14
TEE_L_WHITE, TEE_M_NAVY, TEE_S_WHITE = (normalise_gtin(g) for g in (L_WHITE, M_NAVY, S_WHITE))


def _try_on(client: TestClient, tok: str, gtin: str) -> None:
    assert client.post(f"/api/fitting/rooms/{tok}/items", json={"code": gtin}).status_code == 201


def _buy(client: TestClient, kiosk: dict[str, str], gtins: list[str], guide_code: str | None = None) -> str:
    sid = client.post("/api/kiosk/sessions", json={}, headers=kiosk).json()["session_id"]
    if guide_code is not None:
        r = client.post(f"/api/kiosk/sessions/{sid}/guide", json={"code": guide_code}, headers=kiosk)
        assert r.status_code == 200, r.text
    for g in gtins:
        assert client.post(f"/api/kiosk/sessions/{sid}/items", json={"code": g}, headers=kiosk).status_code == 201
    r = client.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=kiosk)
    assert r.status_code == 200, r.text
    return str(r.json()["order_id"])


def _credits(daemon: Any, order_id: str) -> dict[str, tuple[str | None, str]]:
    with daemon.ctx.store.read() as s:
        rows = s.exec(select(Attribution).where(Attribution.order_id == order_id)).all()
        return {a.gtin: (a.guide_id, a.via) for a in rows}


def test_a_sale_credits_the_guide_who_served_the_room_or_whose_code_was_scanned(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", {"fitting": ROOMS}) as (client, daemon):
        _seed(daemon)
        anna, bo = device_headers(daemon, "guide-anna", "guide"), device_headers(daemon, "guide-bo", "guide")
        kiosk, staff = device_headers(daemon, "kiosk-1", "kiosk"), staff_headers(daemon)
        room1, room2 = _token(daemon, "room-1"), _token(daemon, "room-2")
        _try_on(client, room1, TEE_M_NAVY)  # room 1: Anna answers its call
        call = client.post(f"/api/fitting/rooms/{room1}/calls", json={"kind": "help"}).json()["call"]
        assert client.post(f"/api/fitting/calls/{call['id']}/claim", headers=anna).status_code == 200
        _try_on(client, room2, TEE_L_WHITE)  # room 2: tried without calling anyone

        first = _buy(client, kiosk, [TEE_M_NAVY, TEE_L_WHITE, TEE_S_WHITE])  # paid later, at a kiosk
        assert _credits(daemon, first) == {TEE_M_NAVY: ("guide-anna", "fitting"), TEE_L_WHITE: (None, "fitting")}

        code = client.get("/api/fitting/guide-code", headers=bo).json()
        assert code["guide_id"] == "guide-bo" and code["code"].startswith("RG1:")
        second = _buy(client, kiosk, [TEE_S_WHITE, TEE_M_NAVY], guide_code=code["code"])
        assert _credits(daemon, second) == {TEE_S_WHITE: ("guide-bo", "code"), TEE_M_NAVY: ("guide-bo", "code")}

        with daemon.ctx.store.read() as s:
            events = s.exec(select(OutboxEvent).where(OutboxEvent.kind == "order.paid")).all()
            sent = {json.loads(e.payload)["order_id"]: json.loads(e.payload) for e in events}
        assert [(a["gtin"], a["guide_id"], a["via"]) for a in sent[second]["attribution"]] == [
            (TEE_S_WHITE, "guide-bo", "code"), (TEE_M_NAVY, "guide-bo", "code")]  # fmt: skip

        perf = client.get("/api/fitting/performance", headers=staff).json()
        guides = {g["guide_id"]: g for g in perf["guides"]}
        assert guides["guide-anna"]["calls"] == 1 and guides["guide-anna"]["items_tried"] == 1
        assert guides["guide-anna"]["items_bought"] == 1 and guides["guide-anna"]["conversion"] == 1.0
        assert guides["guide-bo"]["items_bought"] == 2 and guides["guide-bo"]["bought_via_code"] == 2
        assert guides["guide-bo"]["attributed_sales_minor"] > 0
        styles = {st["style"]: st for st in perf["styles"]}
        assert sum(st["items_tried"] for st in styles.values()) == 2
        assert sum(st["items_bought"] for st in styles.values()) == 2, "both tried items were bought"

        r = client.post(f"/api/checkout/orders/{second}/void", json={"reason": "changed mind"}, headers=staff)
        assert r.status_code == 200, r.text
        perf = client.get("/api/fitting/performance", headers=staff).json()
        bought = {g["guide_id"]: g["items_bought"] for g in perf["guides"]}
        assert bought.get("guide-bo", 0) == 0 and bought["guide-anna"] == 1, "a void takes credit back"
        assert client.get("/api/fitting/performance", headers=anna).status_code == 403, "the figures are for staff"


def test_a_guide_code_that_is_not_one_is_refused_with_a_reason(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", {"fitting": ROOMS}) as (client, daemon):
        kiosk = device_headers(daemon, "kiosk-1", "kiosk")
        sid = client.post("/api/kiosk/sessions", json={}, headers=kiosk).json()["session_id"]
        for text in ("RG1:forged.token", "RC1:a-coupon", "<script>alert(1)</script>", "RG1:" + "x" * 2000):
            r = client.post(f"/api/kiosk/sessions/{sid}/guide", json={"code": text}, headers=kiosk)
            assert r.status_code in (400, 422), (text, r.text)
            assert r.json()["error"]["code"] in ("guide_code_invalid", "invalid_input"), r.text
        cart = client.get(f"/api/kiosk/sessions/{sid}", headers=kiosk).json()
        assert cart["guide"] is None
