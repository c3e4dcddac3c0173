"""The daemon as a store box runs it: starts without a broker, answers health, stops on SIGTERM."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from tests.support.services import DaemonProcess, Mosquitto
from tests.support.waits import wait_for


def test_starts_without_broker_reports_mqtt_degraded_and_exits_0_on_sigterm(daemon: DaemonProcess) -> None:
    assert httpx.get(daemon.url + "/healthz").json()["status"] == "alive"
    ready = httpx.get(daemon.url + "/readyz")
    body = ready.json()
    assert ready.status_code == 200, "a missing broker is not a reason to refuse traffic"
    assert body["components"]["mqtt"]["status"] == "degraded"
    assert body["components"]["mqtt"]["reason"]
    assert body["components"]["db"]["status"] == "ok"
    assert set(body["components"]) >= {"db", "mqtt", "cameras", "sync", "models"}
    metrics = httpx.get(daemon.url + "/metrics")
    assert metrics.status_code == 200
    assert "edge_mqtt_connected 0.0" in metrics.text
    assert "edge_http_request_seconds" in metrics.text
    assert httpx.get(daemon.url + "/openapi.json").json()["info"]["title"] == "retail-edge"

    t0 = time.monotonic()
    code = daemon.stop(signal.SIGTERM, timeout=10)
    assert code == 0
    assert time.monotonic() - t0 < 10


def test_connects_to_broker_publishes_available_and_comes_back_after_broker_restart(
    tmp_path: Path, mosquitto: Mosquitto, daemon_factory: type[DaemonProcess]
) -> None:
    d = daemon_factory(tmp_path / "data", env={"RETAIL_EDGE_MQTT__URL": mosquitto.url})
    d.start()

    def mqtt_status() -> str:
        return str(httpx.get(d.url + "/readyz").json()["components"]["mqtt"]["status"])

    wait_for(mqtt_status, 20, "MQTT ok on /readyz", until=lambda st: st == "ok")
    mosquitto.stop()
    wait_for(mqtt_status, 20, "MQTT degraded on /readyz once the broker is gone", until=lambda st: st != "ok")
    assert mqtt_status() == "degraded"
    mosquitto.start()
    wait_for(mqtt_status, 40, "MQTT ok again: it reconnects on its own when the broker returns",
             until=lambda st: st == "ok")  # fmt: skip
    assert d.stop() == 0


def test_sigint_also_stops_cleanly(daemon: DaemonProcess) -> None:
    assert daemon.stop(signal.SIGINT, timeout=10) == 0


def test_refuses_unwritable_data_dir_with_a_sentence(tmp_path: Path, daemon_factory: type[DaemonProcess]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    # The env (which wins over everything) points the data dir below a regular file.
    d = daemon_factory(tmp_path / "ok", env={"RETAIL_EDGE_STORAGE__DATA_DIR": str(blocker / "data")})
    d.start(wait=False)
    assert d.proc is not None
    code = d.proc.wait(30)
    d.proc = None
    log = d.log_path.read_text()
    assert code == 3
    assert "cannot create data dir" in log
    assert "Traceback" not in log


def test_under_systemd_it_notifies_ready_and_pings_the_watchdog(
    tmp_path: Path, daemon_factory: type[DaemonProcess]
) -> None:
    import json
    import socket

    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(60)  # a loaded 2-core box may take a while to migrate and start
    d = daemon_factory(
        tmp_path / "data",
        env={
            "NOTIFY_SOCKET": str(sock_path),
            "WATCHDOG_USEC": "1000000",
            "INVOCATION_ID": "test",
            "RETAIL_EDGE_LOGGING__FORMAT": "auto",
            "RETAIL_EDGE_MQTT__URL": "mqtt://127.0.0.1:9",
        },
    )
    d.start(wait=False)
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "READY=1" not in seen:
        seen.append(sock.recv(256).decode())
    assert "READY=1" in seen
    # READY=1 means "serving": the port answers at that moment, with no retry.
    assert httpx.get(d.url + "/healthz", timeout=5).status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and seen.count("WATCHDOG=1") < 2:
        seen.append(sock.recv(256).decode())
    assert seen.count("WATCHDOG=1") >= 2, seen
    assert d.stop() == 0
    # The daemon has exited: every datagram it sent is already queued in the socket.
    sock.setblocking(False)
    after: list[str] = []
    try:
        while True:
            after.append(sock.recv(256).decode())
    except BlockingIOError:
        pass
    sock.close()
    assert "STOPPING=1" in after
    # Under systemd (INVOCATION_ID set) the logs are JSON lines.
    lines = [ln for ln in d.log_path.read_text().splitlines() if ln.strip()]
    assert lines and all(json.loads(ln)["level"] for ln in lines)
    # and "ready" (sent with READY=1) comes after the server bound its port, never before
    text = d.log_path.read_text()
    assert -1 < text.find("Uvicorn running on") < text.find("retail-edge ready on"), d.log_tail()
