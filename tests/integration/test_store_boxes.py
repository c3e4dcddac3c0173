"""A store of several boxes, and a chain of stores: keys from the cloud, passes across boxes.

The real reference cloud on PostgreSQL delivers the keys, sealed to each box. Store "mall-1" has
two boxes: the gate box (a real daemon process, so box A can reach it over HTTP) and box A
(in-process, `checkout.gate_box_url` pointing at the gate box). Store "mall-2" has box C. A pass
issued on A opens a gate once, whichever box the gate is on; a void on A revokes it at the gate
box first; the gate box down keeps the gate shut and the void waiting; a box of another store is
not a peer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.harness import PostgresUnavailable, running_cloud
from edge.checkout.catalog import import_products
from edge.checkout.gatepeer import PEER_HEADER, PeerAuth
from edge.config import load_settings
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from edge.platform.security import RingDelivered, SecretStore
from edge.sync.keys import KeyDelivery, KeyFetchError
from tests.support.inproc import device_headers, running_app, staff_headers
from tests.support.services import DaemonProcess
from tests.support.waits import wait_for

TEA = GROCERY[0][0]
TOKENS = {"mall-1": "tok-mall-1", "mall-2": "tok-mall-2"}
SYNC = {"downsync_enabled": False, "idle_poll_s": 0.2, "backoff_initial_s": 0.2, "backoff_max_s": 1.0,
        "keys_interval_s": 1.0}  # fmt: skip


def _data(root: Path, name: str, store: str) -> Path:
    data = root / name
    (data / "secrets").mkdir(parents=True, mode=0o700)
    (data / "secrets" / "sync_token").write_text(TOKENS[store])
    return data


def _ring(data: Path, purpose: str) -> dict[str, Any]:
    ring: dict[str, Any] = json.loads((data / "secrets" / f"{purpose}.keys.json").read_text())
    return ring


def _delivered(data: Path, purpose: str) -> dict[str, str]:
    ring = _ring(data, purpose)
    return {k: v for k, v in ring["keys"].items() if k in ring.get("delivered", [])}


@pytest.fixture(scope="module")
def mall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = Path(tmp_path_factory.mktemp("mall"))
    try:
        with running_cloud(TOKENS, root / "receiver.log") as (rx, dsn), ExitStack() as stack:
            gdata = _data(root, "gate-box", "mall-1")
            gate = DaemonProcess(gdata, config={"store": {"id": "mall-1", "node": "gate-box"},
                                                "mqtt": {"url": "mqtt://127.0.0.1:9"},
                                                "sync": {"url": rx.url, **SYNC}})  # fmt: skip
            gate.start()
            stack.callback(gate.stop)
            gate_dev = gate.cli("devices", "add", "gate-g1", "--role", "gate").stdout.strip()
            boxes: dict[str, Any] = {"rx": rx, "gate": gate, "gate_h": {"Authorization": f"Bearer {gate_dev}"}}
            for name, store, extra in (
                ("box-a", "mall-1", {"gate_box_url": gate.url}),
                ("box-c", "mall-2", {}),
            ):
                data = _data(root, name, store)
                cfg = {"store": {"id": store, "node": name, "timezone": "Asia/Shanghai"},
                       "checkout": {"audit_share": 0.0, **extra}, "sync": {"url": rx.url, **SYNC}}  # fmt: skip
                client, daemon = stack.enter_context(running_app(data, cfg))
                assert not import_products(daemon.ctx.store, demo_rows("CNY")).refused
                boxes[name] = {"c": client, "d": daemon, "data": data, "staff": staff_headers(daemon),
                               "gate_h": device_headers(daemon, f"gate-{name}", "gate")}  # fmt: skip
            boxes["gate_data"] = gdata
            for data in (gdata, boxes["box-a"]["data"], boxes["box-c"]["data"]):
                wait_for(partial(_delivered, data, "exit_pass"), 30, f"the cloud's keys to reach {data.name}",
                         ignore=(OSError, ValueError))  # fmt: skip
            yield boxes
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))


def paid_pass(box: dict[str, Any]) -> tuple[str, str]:
    """(order id, exit pass text) of a tea bought at a kiosk of this box."""
    c = box["c"]
    box["k"] = box.get("k", 0) + 1
    h = device_headers(box["d"], f"kiosk-{box['k']}", "kiosk")
    sid = c.post("/api/kiosk/sessions", json={}, headers=h).json()["session_id"]
    assert c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=h).status_code == 201
    r = c.post(f"/api/kiosk/sessions/{sid}/checkout", json={"provider": "sandbox"}, headers=h)
    assert r.status_code == 200, r.text
    return str(r.json()["order_id"]), str(r.json()["exit_pass"])


def at_gate_box(mall: dict[str, Any], text: str) -> httpx.Response:
    return httpx.post(f"{mall['gate'].url}/api/gate/verify", json={"text": text}, headers=mall["gate_h"], timeout=10)


def at_box(box: dict[str, Any], text: str) -> httpx.Response:
    r: httpx.Response = box["c"].post("/api/gate/verify", json={"text": text}, headers=box["gate_h"])
    return r


def code(r: httpx.Response) -> str:
    return str(r.json()["error"]["code"])


def test_keys_come_from_the_cloud_sealed_to_each_box(mall: dict[str, Any]) -> None:
    a, c, g = mall["box-a"]["data"], mall["box-c"]["data"], mall["gate_data"]
    assert _delivered(a, "exit_pass") == _delivered(g, "exit_pass"), "one store, one pass key"
    assert _delivered(a, "peer") == _delivered(g, "peer")
    assert set(_delivered(c, "exit_pass").values()).isdisjoint(_delivered(a, "exit_pass").values()), "stores differ"
    for purpose in ("member", "coupon"):
        assert _delivered(a, purpose) == _delivered(c, purpose) == _delivered(g, purpose), f"one chain {purpose} key"
    # The answer is sealed to box A: the store's token alone (a thief's copy) opens nothing.
    raw = httpx.get(f"{mall['rx'].url}/v1/boxes/box-a/keys", headers={"Authorization": "Bearer tok-mall-1"}, timeout=5)
    assert raw.status_code == 200 and list(_delivered(a, "exit_pass").values())[0] not in raw.text
    other = KeyDelivery(SecretStore(a.parent / "thief"), load_settings(None).sync, "box-a", lambda: "tok-mall-1")
    with pytest.raises(KeyFetchError, match="does not open"):
        other._install(raw.json()["rings"])
    # a box of another store asks for this store's box: it gets its own store's answer or nothing
    assert httpx.get(f"{mall['rx'].url}/v1/boxes/box-a/keys", headers={"Authorization": "Bearer tok-mall-2"},
                     timeout=5).status_code == 404  # fmt: skip
    assert httpx.get(f"{mall['rx'].url}/v1/boxes/box-a/keys", timeout=5).status_code == 401
    with pytest.raises(RingDelivered, match="come from the cloud"):
        SecretStore(a).keyring("exit_pass").rotate()  # a local rotation would be undone at the next fetch
    bad = httpx.put(f"{mall['rx'].url}/v1/boxes/box-z/key", json={"public_key": "short"},
                    headers={"Authorization": "Bearer tok-mall-1"}, timeout=5)  # fmt: skip
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_public_key"


def test_a_pass_from_box_a_opens_a_gate_of_either_box_once(mall: dict[str, Any]) -> None:
    a = mall["box-a"]
    order, text = paid_pass(a)
    r = at_gate_box(mall, text)
    assert r.status_code == 200 and r.json() == {"open": True, "order_id": order, "audit": False}, r.text
    assert code(at_gate_box(mall, text)) == "pass_used", "a replay at the gate box"
    replay = at_box(a, text)
    assert replay.status_code == 409 and code(replay) == "pass_used", "a replay at box A's gate, forwarded"
    # the other way: box A's own gate, forwarded to the gate box, then a replay at the gate box
    order2, text2 = paid_pass(a)
    r = at_box(a, text2)
    assert r.status_code == 200 and r.json()["order_id"] == order2, r.text
    assert code(at_gate_box(mall, text2)) == "pass_used"
    seen = a["c"].get(f"/api/kiosk/orders/{order2}/pass.svg", headers=a["staff"])
    assert seen.status_code == 409 and code(seen) == "pass_not_valid", "box A knows its pass was used"


def test_a_pass_of_another_store_does_not_open_this_store(mall: dict[str, Any]) -> None:
    _, text = paid_pass(mall["box-c"])
    r = at_gate_box(mall, text)
    assert r.status_code == 403 and code(r) == "pass_forged", r.text


def test_a_void_on_box_a_revokes_the_pass_at_the_gate_box(mall: dict[str, Any]) -> None:
    a = mall["box-a"]
    order, text = paid_pass(a)
    r = a["c"].post(f"/api/checkout/orders/{order}/void", json={"reason": "changed mind"}, headers=a["staff"])
    assert r.status_code == 200, r.text
    refused = at_gate_box(mall, text)
    assert refused.status_code == 409 and code(refused) == "pass_revoked", refused.text
    # a pass already used: the shopper left, so the void is refused (refund instead)
    order2, text2 = paid_pass(a)
    assert at_gate_box(mall, text2).status_code == 200
    r = a["c"].post(f"/api/checkout/orders/{order2}/void", json={"reason": "late"}, headers=a["staff"])
    assert r.status_code == 409 and code(r) == "not_voidable", r.text
    assert a["c"].get(f"/api/orders/{order2}/receipt", headers=a["staff"]).json()["status"] == "paid"


def test_peer_calls_need_this_stores_peer_key(mall: dict[str, Any]) -> None:
    url = mall["gate"].url + "/api/peer/gate/verify"
    _, text = paid_pass(mall["box-a"])
    body = json.dumps({"gate_id": "g9", "text": text}).encode()
    stranger = PeerAuth(SecretStore(mall["box-c"]["data"]), "box-c")  # the other store's peer ring
    mine = PeerAuth(SecretStore(mall["box-a"]["data"]), "box-a")
    json_h = {"Content-Type": "application/json"}
    for headers, content in (
        ({}, body),
        ({PEER_HEADER: stranger.token(body)}, body),
        ({PEER_HEADER: mine.token(b"{}")}, body),  # a token for another body
        ({PEER_HEADER: "k1.e30.AAAA"}, body),
    ):
        r = httpx.post(url, content=content, headers={**json_h, **headers}, timeout=5)
        assert r.status_code == 403 and r.json()["error"]["code"] == "peer_refused", r.text
    for content in (b"[]", b"{", json.dumps({"gate_id": "", "text": 1}).encode()):
        r = httpx.post(url, content=content, headers={**json_h, PEER_HEADER: mine.token(content)}, timeout=5)
        assert r.status_code in (400, 422), r.text
    r = httpx.post(url, content=body, headers={**json_h, PEER_HEADER: mine.token(body)}, timeout=5)
    assert r.status_code == 200 and r.json()["open"] is True, "the store's own box is a peer"


def test_rotation_reaches_every_box_and_retirement_voids_old_passes(mall: dict[str, Any]) -> None:
    a, rx = mall["box-a"], mall["rx"]
    _, old = paid_pass(a)
    admin = {"Authorization": f"Bearer {rx.admin_token}"}
    ring = {"scope": "store:mall-1", "purpose": "exit_pass"}
    new = httpx.post(f"{rx.url}/v1/admin/keys/rotate", json=ring, headers=admin, timeout=5).json()["active"]
    for data in (a["data"], mall["gate_data"]):
        wait_for(partial(_ring, data, "exit_pass"), 20, f"the rotation to reach {data.name}",
                 until=lambda ring: ring["active"] == new, ignore=(OSError, ValueError))  # fmt: skip
    _, fresh = paid_pass(a)
    assert fresh.split(".")[0] == f"RX1:{new}", "new passes are signed with the new key"
    assert at_gate_box(mall, fresh).status_code == 200
    retired = httpx.post(f"{rx.url}/v1/admin/keys/retire", json=ring, headers=admin, timeout=5).json()["retired"]
    assert retired and new not in retired
    wait_for(lambda: set(_delivered(mall["gate_data"], "exit_pass")), 20, "the retirement to reach the gate box",
             until=lambda kids: kids == {new}, ignore=(OSError, ValueError))  # fmt: skip
    r = at_gate_box(mall, old)
    assert r.status_code == 403 and code(r) == "pass_forged", "a pass signed with a retired key opens nothing"
    assert httpx.post(f"{rx.url}/v1/admin/keys/rotate", json=ring, timeout=5).status_code == 401


def test_with_the_gate_box_down_the_gate_stays_shut_and_the_void_waits(mall: dict[str, Any]) -> None:
    a, gate = mall["box-a"], mall["gate"]
    order, text = paid_pass(a)
    gate.stop()
    try:
        r = at_box(a, text)
        assert r.status_code == 503 and code(r) == "gate_box_unreachable", r.text
        v = a["c"].post(f"/api/checkout/orders/{order}/void", json={"reason": "x"}, headers=a["staff"])
        assert v.status_code == 503 and code(v) == "gate_box_unreachable", v.text
        assert a["c"].get(f"/api/orders/{order}/receipt", headers=a["staff"]).json()["status"] == "paid"
    finally:
        gate.start()
    assert at_box(a, text).status_code == 200, "back: the same pass opens, once"
