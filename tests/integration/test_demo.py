"""The README's first command ends in `retail-edge demo`: it must print URLs that work."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from edge.demo.gtins import GROCERY
from tests.support.services import ROOT, Mosquitto, free_port
from tests.support.waits import wait_for


def test_demo_prints_working_urls_and_stops_cleanly(tmp_path: Path, mosquitto: Mosquitto) -> None:
    port = free_port()
    data = tmp_path / "demo"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge",
            "demo",
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--mqtt-url",
            mosquitto.url,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Application startup complete" in line or "retail-edge ready" in line:
                break
        text = "".join(lines)
        urls = re.findall(r"(http://127\.0\.0\.1:\d+/\S+)", text)
        pages = {u for u in urls if not u.endswith("/readyz")}
        assert any(u.endswith("/kiosk") for u in pages), text
        assert any(u.endswith("/dashboard") for u in pages), text
        assert any("/fit/" in u for u in pages), text
        assert any("/go/" in u for u in pages), text
        for url in pages:
            r = httpx.get(url, follow_redirects=True, timeout=10)
            assert r.status_code == 200, url
            assert "text/html" in r.headers["content-type"], url
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz").json()["components"]
        assert ready["mqtt"]["status"] == "ok"
        assert ready["db"]["status"] == "ok"
        # the generated clips are decoded: the demo cameras come online
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").json()["components"]["cameras"], 30,
                 "the demo cameras online on /readyz", until=lambda cams: cams["status"] == "ok")  # fmt: skip
        creds = data / "demo-credentials.json"
        assert creds.stat().st_mode & 0o777 == 0o600
        # a wallet payment code at a kiosk goes through the demo's simulated gateways
        assert "wallet payments:" in text, text
        base = f"http://127.0.0.1:{port}"
        add = [sys.executable, "-m", "edge", "devices", "add", "kiosk-t", "--role", "kiosk"]
        env = dict(os.environ, RETAIL_EDGE_CONFIG=str(data / "demo.toml"))
        token = subprocess.run(add, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()
        k = {"Authorization": f"Bearer {token}"}  # a kiosk of its own: the demo camera fills kiosk-1's cart
        sid = httpx.post(f"{base}/api/kiosk/sessions", json={}, headers=k, timeout=10).json()["session_id"]
        r = httpx.post(f"{base}/api/kiosk/sessions/{sid}/items", json={"code": GROCERY[1][0]}, headers=k, timeout=10)
        assert r.status_code == 201, r.text
        body = {"provider": "qr", "payment_code": "281234567890123456"}
        r = httpx.post(f"{base}/api/kiosk/sessions/{sid}/checkout", json=body, headers=k, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["payment"]["provider"] == "alipay" and r.json()["exit_pass"]
        # the demo members are the chain's: member A's code brings her wallet's welcome coupon
        assert "member wallets:    Welcome 10%" in text, text
        member_code = json.loads((data / "demo-people.json").read_text())["members"][0]["code"]
        sid = httpx.post(f"{base}/api/kiosk/sessions", json={}, headers=k, timeout=10).json()["session_id"]

        def wallet() -> list[dict[str, object]]:
            r = httpx.post(f"{base}/api/kiosk/sessions/{sid}/member", json={"code": member_code}, headers=k, timeout=10)
            assert r.status_code == 200, r.text
            return list(r.json()["wallet"])

        got = wait_for(wallet, 60, "member A's wallet to come down from the demo cloud")
        assert [w["coupon_id"] for w in got] == ["demo-welcome"]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    assert code == 0
