"""The store broker's ACL (systemd/mosquitto/retail-edge.acl) on a real Mosquitto: a guide reads
calls and publishes claims but cannot command a gate; the edge can do both. The shipped config
starts under a Debian-style main mosquitto.conf, and the daemon logs in with its secret password."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.integration.test_mqtt_relay import Guide
from tests.support.services import ROOT, DaemonProcess, Mosquitto, free_port, wait_port
from tests.support.waits import wait_for

SHIPPED = ROOT / "systemd" / "mosquitto"
ACL = SHIPPED / "retail-edge.acl"
# Started as root, Mosquitto drops to the `mosquitto` user, which cannot read pytest's 0700 tmp dirs.
_AS_ME = "user root\n" if os.geteuid() == 0 else ""
PASSWORDS = {
    "edge": "edge-pass-123",
    "guide": "guide-pass-123",
    "gate": "gate-pass-123",
    "manager": "mgr-pass-123",
}


def _password_file(path: Path) -> Path:
    path.write_text("")
    for user, pw in PASSWORDS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(path), user, pw], check=True, capture_output=True)
    return path


def test_guide_cannot_publish_gate_commands_but_edge_can(tmp_path: Path) -> None:
    pw = _password_file(tmp_path / "passwd")
    # the fixture adds `user root` itself when the tests run as root
    broker = Mosquitto(tmp_path / "broker", extra_conf=f"password_file {pw}\nacl_file {ACL}\n")
    broker.start()
    clients: list[Guide] = []
    try:

        def login(role: str, topics: list[str]) -> Guide:
            g = Guide(broker.port, f"{role}-1", topics, username=role, password=PASSWORDS[role])
            clients.append(g)
            return g

        gate = login("gate", ["retail/s1/gate/+/cmd"])
        edge = login("edge", ["retail/s1/fitting/+/claim", "retail/s1/gate/+/cmd"])
        guide = login("guide", ["retail/s1/fitting/+/call", "retail/s1/gate/+/cmd"])

        guide.publish("retail/s1/gate/gate-1/cmd", {"event_id": "forged-open-1", "cmd": "open"}).wait_for_publish(5)
        guide.publish("retail/s1/fitting/room-1/claim", {"event_id": "claim-1"}).wait_for_publish(5)
        edge.publish("retail/s1/gate/gate-1/cmd", {"event_id": "real-open-1", "cmd": "open"}).wait_for_publish(5)
        edge.publish("retail/s1/fitting/room-1/call", {"event_id": "call-1"}).wait_for_publish(5)

        assert edge.wait_for(lambda m: m.get("event_id") == "claim-1")  # guides may claim
        assert guide.wait_for(lambda m: m.get("event_id") == "call-1")  # and read calls
        assert gate.wait_for(lambda m: m.get("event_id") == "real-open-1")  # the edge commands gates
        # The broker had handled the forged command (its PUBACK came) before real-open-1 and call-1
        # were sent, and Mosquitto delivers to each client in the order it routed: a client that
        # holds real-open-1 (gate, edge) or call-1 (guide) would hold the forged one by now.
        assert edge.wait_for(lambda m: m.get("event_id") == "real-open-1")
        everyone = gate.received + edge.received + guide.received
        assert not [m for m in everyone if m.get("event_id") == "forged-open-1"]  # a guide cannot
        assert not [m for m in guide.received if m["_topic"].startswith("retail/s1/gate/")]  # nor read them

        # kiosk alerts (an ID check) reach the floor manager, not every guide
        manager = login("manager", ["retail/s1/checkout/+/alert"])  # a Guide has its SUBACKs
        # the snoop also reads calls, which a guide may: a call sent after the alert is its marker
        topics = ["retail/s1/checkout/+/alert", "retail/s1/fitting/+/call"]
        snoop = Guide(broker.port, "guide-2", topics, username="guide", password=PASSWORDS["guide"])
        clients.append(snoop)
        edge.publish("retail/s1/checkout/kiosk-1/alert", {"event_id": "age-1"}).wait_for_publish(5)
        edge.publish("retail/s1/fitting/room-2/call", {"event_id": "call-2"}).wait_for_publish(5)
        assert manager.wait_for(lambda m: m.get("event_id") == "age-1")
        assert snoop.wait_for(lambda m: m.get("event_id") == "call-2")  # delivered after the alert, if any
        assert not [m for m in snoop.received if m.get("event_id") == "age-1"]
    finally:
        for c in clients:
            c.close()
        broker.stop()


def _debian_broker(tmp_path: Path, port: int) -> tuple[Path, Path]:
    """Our files laid out as the README installs them, under Debian's own main mosquitto.conf
    (which already sets persistence). Only the /etc, /var and listener paths move to tmp."""
    etc, var = tmp_path / "etc" / "mosquitto", tmp_path / "var" / "lib" / "mosquitto"
    (etc / "conf.d").mkdir(parents=True)
    var.mkdir(parents=True)
    (etc / "mosquitto.conf").write_text(
        _AS_ME + f"pid_file {tmp_path}/mosquitto.pid\n"
        f"persistence true\npersistence_location {var}/\n"
        f"log_dest file {tmp_path}/log\ninclude_dir {etc}/conf.d\n"
    )
    ours = (SHIPPED / "mosquitto.conf").read_text()
    assert "/etc/mosquitto/retail-edge.acl" in ours and "/etc/mosquitto/retail-edge.passwd" in ours
    (etc / "conf.d" / "retail-edge.conf").write_text(
        ours.replace("/etc/mosquitto/", f"{etc}/").replace("listener 1883", f"listener {port} 127.0.0.1")
    )
    shutil.copy(ACL, etc / "retail-edge.acl")
    _password_file(etc / "retail-edge.passwd")
    return etc / "mosquitto.conf", var


def _connect_code(port: int, username: str, password: str) -> str:
    """The broker's answer to a CONNECT with these credentials."""
    answer: list[str] = []
    done = threading.Event()
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.username_pw_set(username, password)

    def on_connect(*args: Any) -> None:
        answer.append(str(args[3]))
        done.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        assert done.wait(5), "the broker did not answer"
    finally:
        c.disconnect()
        c.loop_stop()
    return answer[0]


def test_shipped_broker_config_starts_under_debians_main_config(tmp_path: Path) -> None:
    """README step: conf.d/retail-edge.conf + retail-edge.acl beside Debian's mosquitto.conf."""
    port = free_port()
    main, var = _debian_broker(tmp_path, port)
    proc = subprocess.Popen(["mosquitto", "-c", str(main)], stderr=subprocess.PIPE, text=True)
    try:
        try:
            wait_port(port, timeout=5)
        except TimeoutError:
            proc.kill()
            raise AssertionError(f"mosquitto refused the shipped config: {proc.communicate()[1]}") from None
        assert _connect_code(port, "edge", PASSWORDS["edge"]) == "Success"
        assert _connect_code(port, "edge", "wrong password") != "Success"  # the password file is in force
        assert _connect_code(port, "guide", PASSWORDS["guide"]) == "Success"
    finally:
        proc.terminate()
        proc.wait(5)
    assert proc.returncode == 0
    assert (var / "mosquitto.db").exists(), "persistence is on (from Debian's main config)"


def test_daemon_logs_in_with_its_secret_password(tmp_path: Path, daemon_factory: type[DaemonProcess]) -> None:
    """The broker password comes from RETAIL_EDGE_SECRET_MQTT_PASSWORD (or the secrets file),
    never from mqtt.url; with it the daemon reaches the password-protected broker."""
    broker = Mosquitto(
        tmp_path / "broker", extra_conf=f"password_file {_password_file(tmp_path / 'passwd')}\nacl_file {ACL}\n"
    )
    broker.start()
    try:
        d = daemon_factory(
            tmp_path / "data",
            config={"mqtt": {"url": broker.url, "username": "edge"}},
            env={"RETAIL_EDGE_SECRET_MQTT_PASSWORD": PASSWORDS["edge"]},
        )
        d.start()
        wait_for(lambda: _mqtt_status(d), 20, "the daemon's MQTT status to be ok", until=lambda st: st == "ok")
        assert d.stop() == 0
    finally:
        broker.stop()


def _mqtt_status(d: DaemonProcess) -> str:
    return str(httpx.get(d.url + "/readyz").json()["components"]["mqtt"]["status"])
