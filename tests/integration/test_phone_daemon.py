"""Scan-and-go on the phone against the real daemon process: the CLI prints the day's entry code,
and a kill -9 mid-basket loses nothing: the phone's cookie still opens the same cart."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from edge.app import prepare_storage
from edge.checkout.catalog import import_products
from edge.config import load_settings
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from tests.support.services import DaemonProcess


def test_a_kill_mid_basket_keeps_the_cart_and_the_phone_finds_it_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = prepare_storage(load_settings(None, overrides={"storage": {"data_dir": str(data)}}))
    assert not import_products(db, demo_rows("CNY")).refused
    db.dispose()
    d = DaemonProcess(data, config={"mqtt": {"url": "mqtt://127.0.0.1:9"}})
    d.start()
    try:
        out = json.loads(d.cli("phone", "entry", "--json", "--base-url", d.url).stdout)
        assert out["url"].startswith(f"{d.url}/go/")
        svg = tmp_path / "entry.svg"
        d.cli("phone", "entry", "--svg", str(svg))
        assert "<svg" in svg.read_text()
        bad = d.cli("phone", "entry", "--day", "someday", check=False)
        assert bad.returncode == 2 and "not a date" in bad.stderr
        with httpx.Client(base_url=d.url, timeout=10) as phone:
            assert phone.get(out["url"].removeprefix(d.url)).status_code == 200
            sid = phone.get("/api/go/state").json()["cart"]["session_id"]
            for n, (gtin, *_rest) in enumerate(GROCERY[:3]):
                r = phone.post(f"/api/go/carts/{sid}/items", json={"code": gtin, "scan_id": f"before-kill-{n}"})
                assert r.status_code == 201, r.text
            d.kill9()
            d.start()
            state = phone.get("/api/go/state").json()
            assert state["cart"]["session_id"] == sid, "the same cart, found by the phone's cookie"
            assert sorted(line["qty"] for line in state["cart"]["lines"]) == [1, 1, 1]
            # the page resends what it never heard back about: nothing doubles
            r = phone.post(f"/api/go/carts/{sid}/items", json={"code": GROCERY[2][0], "scan_id": "before-kill-2"})
            assert r.json()["added"]["source"] == "duplicate"
            assert sum(line["qty"] for line in phone.get("/api/go/state").json()["cart"]["lines"]) == 3
    finally:
        d.stop()
