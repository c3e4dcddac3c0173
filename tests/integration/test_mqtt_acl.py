"""The store broker's ACL (systemd/mosquitto/acl) on a real Mosquitto: a guide reads calls and
publishes claims but cannot command a gate; the edge can do both."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.integration.test_mqtt_relay import Guide
from tests.support.services import ROOT, Mosquitto, free_port, wait_port

ACL = ROOT / "systemd" / "mosquitto" / "acl"
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

        guide.publish(
            "retail/s1/gate/gate-1/cmd", {"event_id": "forged-open-1", "cmd": "open"}
        ).wait_for_publish(5)
        guide.publish("retail/s1/fitting/room-1/claim", {"event_id": "claim-1"}).wait_for_publish(5)
        edge.publish(
            "retail/s1/gate/gate-1/cmd", {"event_id": "real-open-1", "cmd": "open"}
        ).wait_for_publish(5)
        edge.publish("retail/s1/fitting/room-1/call", {"event_id": "call-1"}).wait_for_publish(5)

        assert edge.wait_for(lambda m: m.get("event_id") == "claim-1")  # guides may claim
        assert guide.wait_for(lambda m: m.get("event_id") == "call-1")  # and read calls
        assert gate.wait_for(lambda m: m.get("event_id") == "real-open-1")  # the edge commands gates
        time.sleep(0.5)
        everyone = gate.received + edge.received + guide.received
        assert not [m for m in everyone if m.get("event_id") == "forged-open-1"]  # a guide cannot
        assert not [m for m in guide.received if m["_topic"].startswith("retail/s1/gate/")]  # nor read them
    finally:
        for c in clients:
            c.close()
        broker.stop()


def test_shipped_broker_config_starts(tmp_path: Path) -> None:
    """systemd/mosquitto/mosquitto.conf is a config Mosquitto accepts (paths moved to tmp)."""
    port = free_port()
    conf = (ROOT / "systemd" / "mosquitto" / "mosquitto.conf").read_text()
    conf = (
        conf.replace("/etc/mosquitto/retail-edge.passwd", str(_password_file(tmp_path / "passwd")))
        .replace("/etc/mosquitto/retail-edge.acl", str(ACL))
        .replace("/var/lib/mosquitto/", f"{tmp_path}/")
        .replace("listener 1883", f"listener {port} 127.0.0.1")
        .replace("log_dest syslog", f"log_dest file {tmp_path}/log")
    )
    (tmp_path / "m.conf").write_text(_AS_ME + conf)
    proc = subprocess.Popen(["mosquitto", "-c", str(tmp_path / "m.conf")], stderr=subprocess.PIPE)
    try:
        wait_port(port, timeout=5)
        g = Guide(port, "edge-x", [], username="edge", password=PASSWORDS["edge"])
        g.close()
    finally:
        proc.terminate()
        proc.wait(5)
