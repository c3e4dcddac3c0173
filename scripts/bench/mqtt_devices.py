"""What the MQTT benchmarks share (scripts/bench/fitting_relay.py, scripts/bench/staff.py): the
handheld's MQTT client, its dedupe by event_id, handhelds in a process of their own, the loopback
floor (a plain QoS 1 publish -> receive on the same broker) and the percentile they are read with.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def client(
    port: int, cid: str, on_message: Any = None, on_connect: Any = None, auth: tuple[str, str] | None = None
) -> mqtt.Client:
    """A persistent-session MQTT v5 client, connecting in the background; `auth` is (username,
    password), as a handheld logs in to the store broker (its device id and device token)."""
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    if auth is not None:
        c.username_pw_set(*auth)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    if on_message:
        c.on_message = on_message
    if on_connect:
        c.on_connect = on_connect
    # paho's stub says int, but the delay only feeds time arithmetic and sleep: 0.1 s is honoured
    c.reconnect_delay_set(0.1, 1)  # type: ignore[arg-type]
    c.max_inflight_messages_set(100)
    c.connect_async("127.0.0.1", port, keepalive=10, clean_start=False, properties=props)
    c.loop_start()
    return c


def loopback_floor(
    port: int,
    n: int = 1000,
    topic: str = "bench/floor",
    pub_auth: tuple[str, str] | None = None,
    sub_auth: tuple[str, str] | None = None,
) -> dict[str, float | None]:
    """Plain paho QoS 1 publish -> receive on this broker: the floor nothing can beat."""
    got: dict[int, float] = {}
    subscribed, all_in = threading.Event(), threading.Event()
    lock = threading.Lock()

    def on_msg(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with lock:
            got[int(msg.payload)] = time.perf_counter()
            if len(got) >= n:
                all_in.set()

    def on_conn(c: mqtt.Client, *_a: Any) -> None:
        c.on_subscribe = lambda *_s: subscribed.set()  # set before the SUBACK can arrive
        c.subscribe(topic, qos=1)

    pub_up = threading.Event()
    sub = client(port, "floor-sub", on_msg, on_conn, auth=sub_auth)
    pub = client(port, "floor-pub", on_connect=lambda *_a: pub_up.set(), auth=pub_auth)
    if not (subscribed.wait(10) and pub_up.wait(10)):
        raise RuntimeError("the floor's clients did not connect and subscribe")
    sent: dict[int, float] = {}
    for i in range(n):
        sent[i] = time.perf_counter()
        pub.publish(topic, str(i), qos=1)
        time.sleep(0.002)  # pacing: one message at a time, as calls come
    all_in.wait(10)
    lat = [(got[i] - sent[i]) * 1000 for i in sent if i in got]
    for c in (sub, pub):
        c.disconnect()
        c.loop_stop()
    return {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "received": len(lat)}


class Inbox:
    """What one handheld has handled, by event_id: delivery is at least once, so a receiver drops an
    event_id it has seen (docs/mqtt-topics.md) and the bench counts the redeliveries it dropped."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.redeliveries = 0

    def take(self, msg: mqtt.MQTTMessage) -> tuple[float, dict[str, Any]] | None:
        """When a message came and what it says, or None for an event_id already handled. Only
        this handheld's network thread calls it (paho runs one per client)."""
        now = time.perf_counter()
        data = json.loads(msg.payload)
        if data["event_id"] in self.seen:
            self.redeliveries += 1
            return None
        self.seen.add(data["event_id"])
        return now, data


class DeviceProcess:
    """Handheld devices in a process of their own, as on the shop floor: `target(*args, conn)` runs
    there and answers "dump" with a snapshot and "close" by closing.

    In the driver's process their paho threads competed with the phone threads for one
    interpreter lock, and the receipt time of a call then included waiting for that lock: the
    measured latency was partly the load generator's own. CLOCK_MONOTONIC (perf_counter) is one
    clock for every process on the box, so a receipt time there compares with a POST time here.
    """

    def __init__(self, target: Any, *args: Any) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(*args, child), daemon=True)
        self.proc.start()

    def ready(self, timeout: float, what: str) -> Any:
        """The child's first word, once it is up."""
        if not self.conn.poll(timeout):
            raise RuntimeError(f"{what} did not start")
        return self.conn.recv()

    def snapshot(self) -> dict[str, Any]:
        self.conn.send("dump")
        return self.conn.recv()  # type: ignore[no-any-return]

    def close(self) -> None:
        self.conn.send("close")
        self.conn.recv()
        self.proc.join(10)
