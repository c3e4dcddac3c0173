"""The README's first command ends in `retail-edge demo`: it must print URLs that work."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    assert code == 0
