"""The store broker's accounts (edge.mqtt.accounts, as `retail-edge mqtt accounts` writes them) on a
real Mosquitto: each handheld and gate logs in as itself; a guide reads calls and publishes
claims but cannot command a gate; a gate reads only its own commands; no account can take the
edge's client id. The shipped config starts under a Debian-style main mosquitto.conf, and the
daemon logs in with its secret password."""

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

from edge.mqtt.accounts import Account, write_files
from edge.platform.security import broker_password_hash
from tests.integration.test_mqtt_relay import Guide
from tests.support.services import ROOT, DaemonProcess, Mosquitto, free_port, wait_port
from tests.support.waits import wait_for

SHIPPED = ROOT / "systemd" / "mosquitto"
# Started as root, Mosquitto drops to the `mosquitto` user, which cannot read pytest's 0700 tmp dirs.
_AS_ME = "user root\n" if os.geteuid() == 0 else ""
ROLES = {
    "edge": "edge",
    "guide-1": "guide",
    "guide-2": "guide",
    "manager-1": "manager",
    "supervisor-1": "supervisor",
    "gate-1": "gate",
    "gate-2": "gate",
}
PASSWORDS = {name: f"dev_token-of-{name}" for name in ROLES}  # a device's token is its broker password
BOUND_IDS = "use_username_as_clientid true\n"


def _account_files(tmp: Path) -> tuple[Path, Path]:
    """The broker's password file and ACL for these devices, as `retail-edge mqtt accounts` writes them."""
    accounts = [Account(name, role, broker_password_hash(PASSWORDS[name])) for name, role in ROLES.items()]
    passwd, acl = tmp / "passwd", tmp / "acl"
    write_files(accounts, passwd, acl)
    return passwd, acl


def _broker(tmp: Path) -> Mosquitto:
    passwd, acl = _account_files(tmp)
    broker = Mosquitto(tmp / "broker", extra_conf=f"password_file {passwd}\nacl_file {acl}\n{BOUND_IDS}")
    broker.start()
    return broker


def test_guide_cannot_publish_gate_commands_but_edge_can(tmp_path: Path) -> None:
    broker = _broker(tmp_path)  # the fixture adds `user root` itself when the tests run as root
    clients: list[Guide] = []
    try:

        def login(name: str, topics: list[str]) -> Guide:
            g = Guide(broker.port, f"{name}-client", topics, username=name, password=PASSWORDS[name])
            clients.append(g)
            return g

        gate = login("gate-1", ["retail/s1/gate/+/cmd"])
        edge = login("edge", ["retail/s1/fitting/+/claim", "retail/s1/gate/+/cmd"])
        guide = login("guide-1", ["retail/s1/fitting/+/call", "retail/s1/gate/+/cmd"])

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
        manager = login("manager-1", ["retail/s1/checkout/+/alert"])  # a Guide has its SUBACKs
        # the snoop also reads calls, which a guide may: a call sent after the alert is its marker
        topics = ["retail/s1/checkout/+/alert", "retail/s1/fitting/+/call"]
        snoop = Guide(broker.port, "guide-2", topics, username="guide-2", password=PASSWORDS["guide-2"])
        clients.append(snoop)
        edge.publish("retail/s1/checkout/kiosk-1/alert", {"event_id": "age-1"}).wait_for_publish(5)
        edge.publish("retail/s1/fitting/room-2/call", {"event_id": "call-2"}).wait_for_publish(5)
        assert manager.wait_for(lambda m: m.get("event_id") == "age-1")
        assert snoop.wait_for(lambda m: m.get("event_id") == "call-2")  # delivered after the alert, if any
        assert not [m for m in snoop.received if m.get("event_id") == "age-1"]

        # a supervisor hears escalations (a task nobody took) but not the kiosks' alerts
        sup = login("supervisor-1", ["retail/s1/checkout/+/alert", "retail/s1/staff/escalation"])
        edge.publish("retail/s1/checkout/kiosk-1/alert", {"event_id": "age-2"}).wait_for_publish(5)
        edge.publish("retail/s1/staff/escalation", {"event_id": "esc-1"}).wait_for_publish(5)
        assert sup.wait_for(lambda m: m.get("event_id") == "esc-1")  # delivered after the alert, if any
        assert not [m for m in sup.received if m.get("event_id") == "age-2"]
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
    assert BOUND_IDS.strip() in ours, "client ids are bound to accounts"
    passwd, acl = _account_files(tmp_path)
    shutil.copy(acl, etc / "retail-edge.acl")
    shutil.copy(passwd, etc / "retail-edge.passwd")
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
        assert _connect_code(port, "guide-1", PASSWORDS["guide-1"]) == "Success"
        assert _connect_code(port, "guide-1", PASSWORDS["guide-2"]) != "Success"  # no shared guide password
    finally:
        proc.terminate()
        proc.wait(5)
    assert proc.returncode == 0
    assert (var / "mosquitto.db").exists(), "persistence is on (from Debian's main config)"


def test_daemon_logs_in_with_its_secret_password(tmp_path: Path, daemon_factory: type[DaemonProcess]) -> None:
    """The broker password comes from RETAIL_EDGE_SECRET_MQTT_PASSWORD (or the secrets file),
    never from mqtt.url; with it the daemon reaches the password-protected broker."""
    broker = _broker(tmp_path)
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


def test_f05_an_account_cannot_take_the_edges_client_id_and_a_gate_reads_only_its_own_commands(
    tmp_path: Path,
) -> None:
    """Finding 5: the shared guide account connected with the edge's client id and knocked the edge
    off the broker; any gate could read every gate's commands; guides shared one password."""
    broker = _broker(tmp_path)
    clients: list[Guide] = []
    try:
        edge = Guide(broker.port, "retail-edge-s1-edge-1", ["retail/s1/fitting/+/claim"], "edge", PASSWORDS["edge"])
        clients.append(edge)
        thief = Guide(broker.port, "retail-edge-s1-edge-1", ["retail/s1/fitting/+/call"], "guide-1",
                      PASSWORDS["guide-1"])  # fmt: skip
        clients.append(thief)
        # the broker named the thief's session after its account: the edge was not kicked off
        thief.publish("retail/s1/fitting/room-1/claim", {"event_id": "after-thief-1"}).wait_for_publish(5)
        assert edge.wait_for(lambda m: m.get("event_id") == "after-thief-1")
        assert edge.connected.is_set() and edge.client.is_connected()

        gate1 = Guide(broker.port, "g1", ["retail/s1/gate/+/cmd"], "gate-1", PASSWORDS["gate-1"])
        gate2 = Guide(broker.port, "g2", ["retail/s1/gate/+/cmd"], "gate-2", PASSWORDS["gate-2"])
        clients += [gate1, gate2]
        edge.publish("retail/s1/gate/gate-2/cmd", {"event_id": "open-2"}).wait_for_publish(5)
        edge.publish("retail/s1/gate/gate-1/cmd", {"event_id": "open-1"}).wait_for_publish(5)
        assert gate1.wait_for(lambda m: m.get("event_id") == "open-1")  # routed after open-2
        assert gate2.wait_for(lambda m: m.get("event_id") == "open-2")
        assert [m["event_id"] for m in gate1.received] == ["open-1"], "a gate read another gate's commands"
        assert _connect_code(broker.port, "guide-2", PASSWORDS["guide-1"]) != "Success"
    finally:
        for c in clients:
            c.close()
        broker.stop()


def test_f05_the_cli_writes_one_account_per_device_and_a_revoked_device_loses_the_broker(
    tmp_path: Path, daemon_factory: type[DaemonProcess]
) -> None:
    """`retail-edge mqtt accounts` turns the device registry into the broker's files: a guide logs
    in with its own device token, a kiosk gets no broker account, and after `devices revoke` and
    a rewrite the revoked guide's token no longer opens the broker."""
    d = daemon_factory(
        tmp_path / "data",
        config={"mqtt": {"username": "edge"}},
        env={"RETAIL_EDGE_SECRET_MQTT_PASSWORD": "edge-secret"},
    )
    tokens = {name: d.cli("devices", "add", name, "--role", role).stdout.strip()
              for name, role in [("guide-7", "guide"), ("guide-8", "guide"), ("kiosk-1", "kiosk")]}  # fmt: skip
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"

    def write_accounts() -> str:
        return d.cli("mqtt", "accounts", "--passwd", str(passwd), "--acl", str(acl)).stdout

    assert "3 broker accounts" in write_accounts()  # edge, guide-7, guide-8; never the kiosk
    assert "kiosk-1" not in passwd.read_text() and "user kiosk-1" not in acl.read_text()
    assert tokens["guide-7"] not in passwd.read_text(), "the password file holds hashes, not tokens"
    broker = Mosquitto(tmp_path / "broker", extra_conf=f"password_file {passwd}\nacl_file {acl}\n{BOUND_IDS}")
    broker.start()
    try:
        assert _connect_code(broker.port, "edge", "edge-secret") == "Success"
        assert _connect_code(broker.port, "guide-7", tokens["guide-7"]) == "Success"
        assert _connect_code(broker.port, "guide-8", tokens["guide-7"]) != "Success"
        assert _connect_code(broker.port, "kiosk-1", tokens["kiosk-1"]) != "Success"
    finally:
        broker.stop()
    d.cli("devices", "revoke", "guide-7")
    assert "2 broker accounts" in write_accounts()
    broker = Mosquitto(tmp_path / "broker2", extra_conf=f"password_file {passwd}\nacl_file {acl}\n{BOUND_IDS}")
    broker.start()
    try:
        assert _connect_code(broker.port, "guide-7", tokens["guide-7"]) != "Success"
        assert _connect_code(broker.port, "guide-8", tokens["guide-8"]) == "Success"
    finally:
        broker.stop()
