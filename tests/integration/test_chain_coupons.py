"""Single use, chain-wide: two boxes (two stores) against the real reference cloud on PostgreSQL.

Each box is the real app in-process with its own SQLite file and its own store token; the
chain's coupon key reaches both from the cloud, sealed to each box (edge/sync/keys.py). The
cloud decides which of two simultaneous checkouts gets a single-use coupon; the order's
`order.paid` event commits the use; a void frees it; with the cloud down, the coupon's offline
policy decides and the cloud reports the over-use later.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from edge.demo.gtins import GROCERY
from edge.platform.timeutil import utcnow
from tests.support.chain import chain_stores
from tests.support.inproc import device_headers
from tests.support.waits import wait_for

TEA = GROCERY[0][0]
STORES = {"chain-a": "tok-chain-a", "chain-b": "tok-chain-b"}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # a generous deadline: these tests are about who wins, not about 200 ms on a busy 2-core box
    # (scripts/bench/chain.py measures the checkout's latency)
    sync = {"downsync_enabled": False, "idle_poll_s": 0.2, "backoff_initial_s": 0.2, "backoff_max_s": 1.0,
            "coupon_reserve_timeout_s": 2.0}  # fmt: skip
    with chain_stores(Path(tmp_path_factory.mktemp("chain")), STORES, sync) as chain:
        yield chain


def issue(box: dict[str, Any], policy: str = "store") -> str:
    until = (utcnow() + timedelta(days=1)).replace(microsecond=0).isoformat()
    body = {"kind": "percent", "value": 10, "valid_to": until, "offline_policy": policy}
    r = box["c"].post("/api/checkout/coupons", json=body, headers=box["staff"])
    assert r.status_code == 201, r.text
    return str(r.json()["codes"][0])


def kiosk(box: dict[str, Any]) -> dict[str, str]:
    """A kiosk of its own for each cart (a kiosk holds one open cart at a time)."""
    box["kiosks"] = box.get("kiosks", 0) + 1
    return device_headers(box["d"], f"kiosk-{box['kiosks']}", "kiosk")


Cart = tuple[str, dict[str, str]]


def cart_with(box: dict[str, Any], coupon: str, expect: int = 200) -> Cart:
    """A tea in a new cart at a kiosk of its own, and the coupon applied (answered `expect`)."""
    c, h = box["c"], kiosk(box)
    sid = str(c.post("/api/kiosk/sessions", json={}, headers=h).json()["session_id"])
    assert c.post(f"/api/kiosk/sessions/{sid}/items", json={"code": TEA}, headers=h).status_code == 201
    r = c.post(f"/api/kiosk/sessions/{sid}/coupons", json={"code": coupon}, headers=h)
    assert r.status_code == expect, r.text
    if expect != 200:
        box["last_error"] = r.json()["error"]["code"]
    return sid, h


def pay(box: dict[str, Any], cart: Cart) -> httpx.Response:
    r: httpx.Response = box["c"].post(
        f"/api/kiosk/sessions/{cart[0]}/checkout", json={"provider": "sandbox"}, headers=cart[1]
    )
    return r


def cloud_uses(dsn: str, coupon_code_id: str) -> list[tuple[str, str, str | None]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT store_id, status, order_id FROM coupon_use WHERE coupon_id = %s", (coupon_code_id,)
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def _claims(box: dict[str, Any], code: str) -> dict[str, Any]:
    from edge.checkout.service import CheckoutServices

    claims: dict[str, Any] = box["d"].ctx.own(CheckoutServices).sessions.codes.coupon_claims(code)
    return claims


def test_two_boxes_pay_with_one_single_use_coupon_at_once_one_wins(chain: dict[str, Any]) -> None:
    a, b = chain["chain-a"], chain["chain-b"]
    code = issue(a)
    cid = _claims(a, code)["c"]
    assert _claims(b, code)["c"] == cid, "the chain's coupon verifies in the other store"
    carts = {"chain-a": cart_with(a, code), "chain-b": cart_with(b, code)}
    answers: dict[str, httpx.Response] = {}
    start = threading.Barrier(2)

    def go(store: str) -> None:
        start.wait(5)
        answers[store] = pay(chain[store], carts[store])

    threads = [threading.Thread(target=go, args=(s,)) for s in carts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(r.status_code for r in answers.values())
    assert codes == [200, 409], {k: v.text for k, v in answers.items()}
    loser = next(r for r in answers.values() if r.status_code == 409)
    assert loser.json()["error"]["code"] == "coupon_used" and "Nothing was charged" in loser.json()["error"]["message"]
    winner_store = next(s for s, r in answers.items() if r.status_code == 200)
    order_id = answers[winner_store].json()["order_id"]
    # the winner's order event reaches the cloud and commits the use there
    wait_for(lambda: cloud_uses(chain["dsn"], cid) == [(winner_store, "committed", order_id)], 20,
             "the order's event to commit the coupon's use at the cloud")  # fmt: skip
    # a void frees it chain-wide: the other store's cart can now pay with it
    w = chain[winner_store]
    r = w["c"].post(f"/api/checkout/orders/{order_id}/void", json={"reason": "customer changed mind"},
                    headers=w["staff"])  # fmt: skip
    assert r.status_code == 200, r.text
    wait_for(lambda: cloud_uses(chain["dsn"], cid) == [], 20, "the void to free the use at the cloud")
    loser_store = next(s for s in carts if s != winner_store)
    again = pay(chain[loser_store], carts[loser_store])
    assert again.status_code == 200, again.text


def test_cloud_down_the_offline_policy_decides_and_the_cloud_reports_the_over_use(chain: dict[str, Any]) -> None:
    a, b, rx = chain["chain-a"], chain["chain-b"], chain["rx"]
    lenient, strict = issue(a, "store"), issue(a, "refuse")
    cid = _claims(a, lenient)["c"]
    carts = [cart_with(a, lenient), cart_with(b, lenient)]
    strict_cart = cart_with(a, strict)
    rx.stop()
    try:
        paid = [pay(a, carts[0]), pay(b, carts[1])]
        assert [r.status_code for r in paid] == [200, 200], [r.text for r in paid]
        refused = pay(a, strict_cart)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "coupon_needs_chain", refused.text
        cart_with(a, lenient, expect=409)
        assert a["last_error"] == "coupon_used", "offline, still once on this box"
    finally:
        rx.start()
    admin = {"Authorization": f"Bearer {rx.admin_token}"}

    def report() -> list[dict[str, Any]]:
        rows = httpx.get(rx.url + "/v1/admin/coupons/over-uses", headers=admin, timeout=5).json()["over_uses"]
        return [row for row in rows if row["coupon_id"] == cid]

    wait_for(lambda: len(report()) == 1, 30, "both stores' orders to reach the cloud and the over-use to be found")
    row = report()[0]
    assert row["chain"] == "offline" and row["first_store_id"] != row["store_id"]
    assert {u[0] for u in cloud_uses(chain["dsn"], cid)} <= set(STORES)
    # with the cloud back, the strict coupon is accepted
    assert pay(a, strict_cart).status_code == 200


def test_hostile_requests_to_the_coupon_authority_get_a_4xx_and_a_bad_event_fails_nothing(
    chain: dict[str, Any],
) -> None:
    rx = chain["rx"]
    h = {"Authorization": f"Bearer {STORES['chain-a']}"}
    bodies: list[Any] = [
        None, [], {"holder": "x"}, {"holder": "x", "uses": "all"}, {"holder": "a\x00b", "uses": [{"use_key": "k"}]},
        {"holder": "x", "uses": [{"use_key": "k\x00", "coupon_id": "c"}]}, {"holder": "x" * 500, "uses": []},
        {"holder": "x", "uses": [{"use_key": "k" * 5000, "coupon_id": "c"}]},
        {"holder": "x", "uses": [{"use_key": "k", "coupon_id": "c"}], "ttl_s": "forever"},
    ]  # fmt: skip
    nested = "[" * 100_000 + "]" * 100_000
    for path in ("/v1/coupons/reserve", "/v1/coupons/release", "/v1/coupons/commit"):
        for body in bodies:
            r = httpx.post(rx.url + path, json=body, headers=h, timeout=10)
            assert r.status_code == 422, (path, body, r.text)
        r = httpx.post(rx.url + path, content=nested, headers={**h, "Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 422, (path, r.text)
        assert httpx.post(rx.url + path, json=bodies[-1], timeout=10).status_code == 401, "no token, no answer"
    # another store cannot free a use it does not hold
    ok = {"holder": "chain-b/x/s", "uses": [{"use_key": "cp-hostile:1", "coupon_id": "cp-hostile"}]}
    hb = {"Authorization": f"Bearer {STORES['chain-b']}"}
    assert httpx.post(rx.url + "/v1/coupons/reserve", json=ok, headers=hb, timeout=10).status_code == 200
    steal = {"holder": "chain-b/x/s", "use_keys": ["cp-hostile:1"]}
    assert httpx.post(rx.url + "/v1/coupons/release", json=steal, headers=h, timeout=10).json()["changed"] == 0
    assert cloud_uses(chain["dsn"], "cp-hostile") == [("chain-b", "reserved", None)]
    # an order event with malformed coupon entries is stored, and the batch with it
    event = {
        "event_id": "01a24204-0000-7000-8000-000000000001",
        "stream": "orders",
        "seq": 1,
        "kind": "order.paid",
        "schema_version": 1,
        "created_at": utcnow().isoformat(),
        "payload": {
            "order_id": "o-hostile",
            "coupons": [
                "x",
                {"use_key": 5, "chain": "offline"},
                {"use_key": "k" * 5000, "coupon_id": "c", "chain": "x"},
            ],
        },
    }
    r = httpx.post(
        rx.url + "/v1/ingest/batches", json={"store_id": "chain-a", "events": [event]}, headers=h, timeout=10
    )
    assert r.status_code == 200 and r.json()["accepted"] == [event["event_id"]], r.text
