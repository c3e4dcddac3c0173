"""One paho-mqtt 2.x client for the whole daemon (MQTT v5, persistent session, LWT).

paho's default clean_start ("first connect only") throws the broker-side session away at every
process start; we connect with clean_start=False and a Session Expiry Interval so subscriptions
and queued QoS 1 messages survive our restarts. The `available` topic is the Last Will and is
republished as `online` on every connect.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import Counter, Gauge

from edge.mqtt.contract import Handler as MessageHandler
from edge.mqtt.settings import MqttSettings

log = logging.getLogger(__name__)

MQTT_CONNECTED = Gauge("edge_mqtt_connected", "1 while connected to the store broker")
MQTT_CONNECTS = Counter("edge_mqtt_connects_total", "Successful connections to the broker")
MQTT_DISCONNECTS = Counter("edge_mqtt_disconnects_total", "Unexpected disconnections from the broker")

PublishHook = Callable[[int, ReasonCode], None]


class MqttClient:
    """Thread-safe wrapper: paho's network thread does IO and reconnects with backoff."""

    def __init__(self, settings: MqttSettings, client_id: str, available_topic: str, password: str | None) -> None:
        url = urlparse(settings.url)
        if url.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ValueError(f"mqtt.url must start with mqtt:// or mqtts://, not {settings.url!r}")
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (8883 if url.scheme == "mqtts" else 1883)
        self.settings = settings
        self.client_id = client_id
        self.available_topic = available_topic
        self.last_error = "not connected yet"
        self._connected = threading.Event()
        self._stopping = False  # our own disconnect is no fault: no warning, no reconnect
        self._on_connect_hooks: list[Callable[[], None]] = []
        self._on_publish_hooks: list[PublishHook] = []
        self._subs: dict[str, tuple[int, MessageHandler, bool]] = {}
        self._lock = threading.Lock()
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,  # a handler that hands work to a thread acks when that work is durable
        )
        username = settings.username or url.username
        if username:
            c.username_pw_set(username, password)
        if url.scheme == "mqtts":
            c.tls_set()
        c.will_set(available_topic, "offline", qos=1, retain=True)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.max_queued_messages_set(10000)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_connect_fail = self._on_connect_fail
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_socket_open = _no_delay
        self.client = c

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def add_on_connect(self, hook: Callable[[], None]) -> None:
        """Run on paho's thread after every (re)connect, e.g. to resend the durable queue."""
        self._on_connect_hooks.append(hook)

    def add_on_publish(self, hook: PublishHook) -> None:
        """Run on paho's thread for every PUBACK (mid, reason code). paho holds its own lock here:
        the hook must be quick and must not call back into the client."""
        self._on_publish_hooks.append(hook)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry_s
        self.client.connect_async(
            self.host, self.port, keepalive=self.settings.keepalive_s, clean_start=False, properties=props
        )
        self.client.loop_start()  # retries the first connection too

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stopping = True
        if self.connected:
            info = self.client.publish(self.available_topic, "offline", qos=1, retain=True)
            deadline = time.monotonic() + timeout_s
            while not info.is_published() and time.monotonic() < deadline and self.connected:
                time.sleep(0.02)
        self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()
        MQTT_CONNECTED.set(0)

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def publish(self, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    def subscribe(self, topic: str, handler: MessageHandler, qos: int = 1, *, deferred_ack: bool = False) -> None:
        """Route messages matching `topic` to `handler` (on paho's thread, so keep it quick).

        Subscribe before start(): a persistent session delivers queued messages right after
        CONNACK. With deferred_ack the handler must call the `ack()` it was given once the
        message is safely handled; otherwise the PUBACK goes when the handler returns."""
        with self._lock:
            self._subs[topic] = (qos, handler, deferred_ack)
        if self.connected:
            self.client.subscribe(topic, qos=qos)

    # --- paho callbacks (network thread) -------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, rc: ReasonCode, _p: object
    ) -> None:
        if rc.is_failure:
            self.last_error = f"broker refused connection: {rc}"
            log.warning("mqtt: %s", self.last_error)
            return
        self._connected.set()
        MQTT_CONNECTED.set(1)
        MQTT_CONNECTS.inc()
        self.last_error = ""
        log.info("mqtt: connected to %s:%s (session present: %s)", self.host, self.port, flags.session_present)
        client.publish(self.available_topic, "online", qos=1, retain=True)
        with self._lock:
            subs = list(self._subs.items())
        for topic, (qos, _h, _d) in subs:
            client.subscribe(topic, qos=qos)
        for hook in list(self._on_connect_hooks):
            try:
                hook()
            except Exception:
                log.exception("mqtt on-connect hook failed")

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        was = self.connected
        self._connected.clear()
        MQTT_CONNECTED.set(0)
        if self._stopping:
            self.last_error = "stopped"
            log.info("mqtt: disconnected from %s:%s (shutting down)", self.host, self.port)
        elif was:
            MQTT_DISCONNECTS.inc()
            self.last_error = f"disconnected: {rc}"
            log.warning("mqtt: %s; reconnecting with backoff", self.last_error)
        else:
            self.last_error = f"cannot reach broker at {self.host}:{self.port}"

    def _on_connect_fail(self, _c: mqtt.Client, _u: object) -> None:
        self.last_error = f"cannot reach broker at {self.host}:{self.port}; retrying"

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        for hook in list(self._on_publish_hooks):
            try:
                hook(mid, rc)
            except Exception:
                log.exception("mqtt on-publish hook failed")

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            subs = list(self._subs.items())
        deferred = False

        def ack() -> None:
            self.ack(msg)

        for pattern, (_q, handler, defer) in subs:
            if mqtt.topic_matches_sub(pattern, msg.topic):
                try:
                    handler(msg.topic, bytes(msg.payload), ack)
                    deferred = deferred or defer
                except Exception:
                    log.exception("mqtt handler for %s failed", pattern)
        if not deferred:
            self.ack(msg)

    def ack(self, msg: mqtt.MQTTMessage) -> None:
        """PUBACK an inbound QoS 1 message (safe from any thread)."""
        if msg.qos > 0:
            self.client.ack(msg.mid, msg.qos)


def _no_delay(_client: mqtt.Client, _userdata: object, sock: Any) -> None:
    """TCP_NODELAY on the broker connection: a call and its room state go out as two small
    packets, and with Nagle's algorithm the second waited for the broker's delayed ACK, about
    40 ms on Linux. Neither paho nor Mosquitto (without `set_tcp_nodelay`) turn it off."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket (a unix socket or a websocket wrapper)
        log.debug("mqtt: TCP_NODELAY not set", exc_info=True)
