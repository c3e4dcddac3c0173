"""Live pushes (SSE) to the phone and the guides, and items from the room camera."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from edge.checkout.catalog import import_products
from edge.demo.gtins import FASHION
from edge.fitting.models import FittingVisit
from edge.fitting.service import FittingService
from edge.platform.gs1facts import facts
from edge.platform.timeutil import utcnow
from edge.scanning.events import ScanEvent
from tests.support.inproc import device_headers, running_app, settle_bus
from tests.support.waits import wait_for

ROOMS = {"rooms": [{"id": "room-1", "name": "Room 1"}, {"id": "room-2", "name": "Room 2"}]}


def _frames(  # type: ignore[no-untyped-def]
    response, want: int, timeout: float = 10.0, opened: threading.Event | None = None
) -> list[dict]:
    """The first `want` data frames of an SSE call stream. `opened` is set at the stream's first
    line: the server sends it (`retry:`) only after it has subscribed to call changes, so a change
    made from then on is pushed."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        if opened is not None:
            opened.set()
        if line.startswith("data: "):
            out.append(json.loads(line[6:]))
            if len(out) >= want:
                break
        assert time.monotonic() < deadline, "SSE frames did not come"
    return out


def test_phone_stream_replays_then_pushes_only_its_room(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", {"fitting": ROOMS}) as (client, daemon):
        codes = daemon.ctx.own(FittingService).codes
        t1, t2 = codes.token("room-1"), codes.token("room-2")
        first = client.post(f"/api/fitting/rooms/{t1}/calls", json={"kind": "help"}).json()["call"]
        guide = device_headers(daemon, "guide-1", "guide")

        opened = threading.Event()

        def later() -> None:
            assert opened.wait(10), "the phone's stream did not open"
            client.post(f"/api/fitting/rooms/{t2}/calls", json={"kind": "help"})  # another room: not pushed
            client.post(f"/api/fitting/calls/{first['id']}/claim", headers=guide)

        helper = threading.Thread(target=later, daemon=True)
        helper.start()
        with client.stream("GET", f"/api/fitting/rooms/{t1}/events") as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            frames = _frames(r, 2, opened=opened)
        assert [(f["id"], f["state"], f["version"]) for f in frames] == [
            (first["id"], "open", 1),
            (first["id"], "claimed", 2),
        ]
        assert frames[1]["guide_id"] == "guide-1" and frames[1]["room_name"] == "Room 1"
        helper.join(10)  # its claim's answer is read before the app shuts down


def test_guide_stream_sees_every_room(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", {"fitting": ROOMS}) as (client, daemon):
        codes = daemon.ctx.own(FittingService).codes
        guide = device_headers(daemon, "guide-1", "guide")

        opened = threading.Event()

        def later() -> None:
            assert opened.wait(10), "the guide's stream did not open"
            for room in ("room-1", "room-2"):
                client.post(f"/api/fitting/rooms/{codes.token(room)}/calls", json={"kind": "help"})

        helper = threading.Thread(target=later, daemon=True)
        helper.start()
        # The calls are made once the stream has subscribed (its first line); one made while it
        # replays may come twice (in the replay and as a push): clients keep the highest version
        # per id, so read until both rooms' calls are in.
        latest: dict[str, dict] = {}
        deadline = time.monotonic() + 10
        with client.stream("GET", "/api/fitting/events", headers=guide) as r:
            for line in r.iter_lines():
                opened.set()  # the server sends its first line (`retry:`) after subscribing
                assert time.monotonic() < deadline, "SSE frames did not come"
                if not line.startswith("data: "):
                    continue
                f = json.loads(line[6:])
                if f["version"] >= latest.get(f["id"], {}).get("version", 0):
                    latest[f["id"]] = f
                if len({c["room_id"] for c in latest.values()}) == 2:
                    break
        assert sorted(f["room_id"] for f in latest.values()) == ["room-1", "room-2"]
        assert client.get("/api/fitting/events").status_code == 401
        helper.join(10)


def test_room_camera_scans_fill_the_visit_and_idle_visits_end(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", {"fitting": ROOMS}) as (client, daemon):
        rows = [
            {"gtin": g, "name": n, "price_minor": p, "style": st, "size": sz, "colour": c, "stock": k}
            for g, st, n, sz, c, p, k in FASHION
        ]
        import_products(daemon.ctx.store, rows)
        jeans = FASHION[4][0]
        tok = daemon.ctx.own(FittingService).codes.token("room-2")

        def scan(target: str, gtin: str | None, role: str = "fitting_room") -> None:
            ev = ScanEvent(camera_id="cam-fit", role=role, target=target, symbology="EAN-13", text=gtin or "x",
                           gs1=facts(gtin) if gtin else None)  # fmt: skip
            daemon.ctx.bus.publish(ev)

        scan("room-2", jeans)
        scan("room-2", jeans)  # held in view again: still one item
        scan("room-2", "0000000000000")  # not in the catalog: ignored
        scan("room-1", FASHION[0][0], role="kiosk")  # a kiosk camera is not a fitting-room camera
        wait_for(lambda: client.get(f"/api/fitting/rooms/{tok}").json()["items"], 10, "the scanned jeans in room 2")
        settle_bus(client, daemon)  # all four scans handled: what did not land will not
        view = client.get(f"/api/fitting/rooms/{tok}").json()
        assert [(i["name"], i["size"], i["source"]) for i in view["items"]] == [("Slim jeans", "30", "scan")]
        assert {v["size"]: v["stock"] for v in view["items"][0]["variants"]} == {"30": 2, "32": 5, "34": 0}
        assert (
            client.get(f"/api/fitting/rooms/{daemon.ctx.own(FittingService).codes.token('room-1')}").json()["visit_id"]
            is None
        )

        svc = daemon.ctx.own(FittingService)
        with daemon.ctx.store.write() as s:  # the shopper left 31 minutes ago
            visit = s.exec(select(FittingVisit).where(FittingVisit.room_id == "room-2")).one()
            visit.last_activity_at = utcnow() - timedelta(minutes=31)
            s.add(visit)
        ended = svc.visits.end_idle()
        assert [(e.room_id, e.reason) for e in ended] == [("room-2", "idle")]
        assert client.get(f"/api/fitting/rooms/{tok}").json() | {"items": None} == {
            "room_id": "room-2", "room_name": "Room 2", "zone": "main", "visit_id": None, "items": None,
            "calls": [], "catalog_available": True,
        }  # fmt: skip
