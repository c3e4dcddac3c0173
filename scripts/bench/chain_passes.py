"""Chain bench, the store of two boxes and the guides (used by chain.py).

Store A runs two boxes: A1 serves the store's gates (the one authority on a pass's single use)
and A2 forwards its gate's checks to A1 (`checkout.gate_box_url`). Passes issued on either box
are shown at a gate of the other box, then replayed at both: `passes_crossing_boxes` counts the
passes that opened a gate of the box that did not issue them (or whose check the other box
decided), `pass_replays_refused` the replays refused, `pass_replays_accepted` those that
opened (must be 0).

Guides: three guides' personal codes (fetched from A1's handheld API, chain-signed), and carts on
all three boxes (both stores) that scan one of them, or none, before paying. The bench keeps
its own record of who served whom; after the run it reads every order's attribution from the
cloud's copy of the `order.paid` events: `attributed_sales` (orders credited to a guide),
`attribution_errors` (credited to another guide than the bench's record, or not credited, or
credited when no guide served; must be 0).
"""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from typing import Any

import httpx
import psycopg

from edge.access.service import AccessService
from edge.app import prepare_storage
from edge.checkout.catalog import import_products
from edge.config import load_settings
from edge.demo.catalog import demo_rows
from edge.platform.security import SecretStore, Signer
from tests.support.services import DaemonProcess
from tests.support.waits import wait_for

GUIDES = ("guide-ann", "guide-bo", "guide-cy")


def add_devices(data: Path, store: str, devices: list[tuple[str, str]]) -> dict[str, str]:
    """The demo catalog, and device tokens (id -> token), on a box's data dir before its daemon starts."""
    settings = load_settings(None, overrides={"storage": {"data_dir": str(data)}, "store": {"id": store}})
    db = prepare_storage(settings)
    assert not import_products(db, demo_rows(settings.store.currency)).refused
    access = AccessService(db, Signer("session", SecretStore(data).keyring("session")))
    tokens = {dev: str(access.add_device(dev, role)) for dev, role in devices}
    db.dispose()
    return tokens


def _client(base: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _paid_pass(kiosk: httpx.Client, tea: str, guide_code: str | None = None) -> tuple[str, str]:
    """(order id, exit pass text) of one paid cart of tea, with a guide's code scanned if given."""
    sid = kiosk.post("/api/kiosk/sessions", json={}).json()["session_id"]
    if guide_code is not None:
        r = kiosk.post(f"/api/kiosk/sessions/{sid}/guide", json={"code": guide_code})
        assert r.status_code == 200, r.text
    assert kiosk.post(f"/api/kiosk/sessions/{sid}/items", json={"code": tea}).status_code == 201
    r = kiosk.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"})
    assert r.status_code == 200, r.text
    return str(r.json()["order_id"]), str(r.json()["exit_pass"])


def passes(boxes: dict[str, dict[str, Any]], tea: str, rounds: int) -> dict[str, int]:
    """`boxes`: {"a1": {"url", "kiosk", "gate"}, "a2": {...}} (device tokens). Each round a pass
    from one box opens the other box's gate, then is replayed at both gates."""
    out = {"passes_crossing_boxes": 0, "pass_replays_refused": 0, "pass_replays_accepted": 0, "pass_errors": 0}
    kiosks = {b: _client(v["url"], v["kiosk"]) for b, v in boxes.items()}
    gates = {b: _client(v["url"], v["gate"]) for b, v in boxes.items()}
    for n in range(rounds):
        issuer, other = ("a2", "a1") if n % 2 == 0 else ("a1", "a2")
        _order, text = _paid_pass(kiosks[issuer], tea)
        first = gates[other].post("/api/gate/verify", json={"text": text})
        if first.status_code == 200 and first.json().get("open"):
            out["passes_crossing_boxes"] += 1
        else:
            out["pass_errors"] += 1
        for gate in (gates[other], gates[issuer]):
            again = gate.post("/api/gate/verify", json={"text": text})
            if again.status_code == 409 and again.json()["error"]["code"] == "pass_used":
                out["pass_replays_refused"] += 1
            elif again.status_code == 200:
                out["pass_replays_accepted"] += 1
            else:
                out["pass_errors"] += 1
    return out


def guide_codes(a1_url: str, guide_tokens: dict[str, str]) -> dict[str, str]:
    """Each guide's personal code, as their handheld shows it (guide id -> code)."""
    out = {}
    for guide, token in guide_tokens.items():
        out[guide] = str(_client(a1_url, token).get("/api/fitting/guide-code").json()["code"])
    return out


def guided_sales(kiosks: list[httpx.Client], codes: dict[str, str], tea: str, rounds: int) -> dict[str, str | None]:
    """Carts on every kiosk (of both stores), each served by a random guide or none; the bench's
    record: order id -> guide id (None: no guide)."""
    record: dict[str, str | None] = {}
    lock = threading.Lock()

    def run(k: httpx.Client, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(rounds):
            guide = rng.choice([*codes, None])
            order, _text = _paid_pass(k, tea, codes[guide] if guide else None)
            with lock:
                record[order] = guide

    threads = [threading.Thread(target=run, args=(k, n)) for n, k in enumerate(kiosks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return record


def attribution_figures(dsn: str, record: dict[str, str | None]) -> dict[str, int]:
    """The cloud's copy of each order's attribution against the bench's record."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT payload->>'order_id', payload->'attribution' FROM edge_event "
            "WHERE kind = 'order.paid' AND payload->>'order_id' = ANY(%s)",
            (list(record),),
        ).fetchall()
    credited: dict[str, set[str | None]] = {str(r[0]): {a.get("guide_id") for a in (r[1] or [])} for r in rows}
    errors = 0
    for order, guide in record.items():
        got = credited.get(order)
        expected: set[str | None] = {guide} if guide else set()
        errors += got != expected
    return {
        "guided_orders": sum(1 for g in record.values() if g),
        "attributed_sales": sum(1 for g in credited.values() if g - {None}),
        "attribution_errors": errors,
    }


def _cli_device(d: DaemonProcess, device: str, role: str) -> str:
    return d.cli("devices", "add", device, "--role", role).stdout.strip()


def _delivered(data: Path, purposes: tuple[str, ...]) -> bool:
    try:
        return all(json.loads((data / "secrets" / f"{p}.keys.json").read_text()).get("delivered") for p in purposes)
    except (OSError, ValueError):
        return False


def store_boxes_phase(
    tmp: Path, rx_url: str, dsn: str, a1: DaemonProcess, b: DaemonProcess, sync: dict[str, Any],
    store_a: str, rounds: int, guided_rounds: int, tea: str,
) -> dict[str, Any]:  # fmt: skip
    """Start A2 (a second box of store A, forwarding its gate to A1), then the passes and the guides."""
    data = tmp / "bench-a2"
    tokens = add_devices(data, store_a, [("kiosk-a2", "kiosk"), ("gate-a2", "gate"), ("kiosk-g-a2", "kiosk")])
    (data / "secrets").mkdir(mode=0o700, exist_ok=True)
    (data / "secrets" / "sync_token").write_text((a1.data_dir / "secrets" / "sync_token").read_text())
    (data / "secrets" / "sync_token").chmod(0o600)
    cfg = {"store": {"id": store_a, "node": "bench-a2"}, "checkout": {"audit_share": 0.0, "gate_box_url": a1.url},
           "sync": {"url": rx_url, **sync}}  # fmt: skip
    a2 = DaemonProcess(data, config=cfg)
    a2.start()
    try:
        for box in (a1.data_dir, data, b.data_dir):
            wait_for(lambda box=box: _delivered(box, ("exit_pass", "peer", "guide")), 60,  # type: ignore[misc]
                     f"the store's and the chain's keys to reach {box.name}")  # fmt: skip
        boxes = {
            "a1": {
                "url": a1.url,
                "kiosk": _cli_device(a1, "kiosk-p1", "kiosk"),
                "gate": _cli_device(a1, "gate-a1", "gate"),
            },
            "a2": {"url": a2.url, "kiosk": tokens["kiosk-a2"], "gate": tokens["gate-a2"]},
        }
        out: dict[str, Any] = passes(boxes, tea, rounds)
        guides = {g: _cli_device(a1, g, "guide") for g in GUIDES}
        codes = guide_codes(a1.url, guides)
        kiosks = [_client(a1.url, _cli_device(a1, "kiosk-g-a1", "kiosk")), _client(a2.url, tokens["kiosk-g-a2"]),
                  _client(b.url, _cli_device(b, "kiosk-g-b", "kiosk"))]  # fmt: skip
        record = guided_sales(kiosks, codes, tea, guided_rounds)

        def arrived() -> bool:
            with psycopg.connect(dsn) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM edge_event WHERE kind = 'order.paid' AND payload->>'order_id' = ANY(%s)",
                    (list(record),),
                ).fetchone()
            return bool(row and row[0] >= len(record))

        wait_for(arrived, 120, "every guided order to reach the cloud")
        out |= attribution_figures(dsn, record)
        out["boxes"] = 3
        return out
    finally:
        a2.stop()
