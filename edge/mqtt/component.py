"""Wires the MQTT client and the durable relay into the daemon.

The broker being down only makes the daemon degraded: state changes keep committing their
queue rows, and the relay catches up when the broker returns.
"""

from __future__ import annotations

import asyncio
import logging

from edge.mqtt.client import MqttClient
from edge.mqtt.relay import MqttRelay
from edge.platform.context import Component, Context
from edge.platform.observability import ComponentHealth

STUCK_AFTER_S = 30.0

log = logging.getLogger(__name__)


def available_topic(store_id: str, node: str) -> str:
    return f"retail/{store_id}/edge/{node}/available"


class MqttComponent(Component):
    name = "mqtt"

    def __init__(self, ctx: Context) -> None:
        s = ctx.settings
        client_id = s.mqtt.client_id or f"retail-edge-{s.store.id}-{s.store.node}"
        self.client = MqttClient(
            s.mqtt, client_id, available_topic(s.store.id, s.store.node), ctx.secrets.get("mqtt_password")
        )
        self.relay = MqttRelay(
            ctx.store,
            self.client,
            window=s.mqtt.relay_window,
            poll_s=s.mqtt.relay_poll_s,
            resend_after_s=s.mqtt.resend_after_s,
        )
        ctx.services.messaging = ctx.keep(self.client)
        ctx.keep(self.relay)

    async def start(self) -> None:
        self.client.start()
        self.relay.start()

    async def stop(self) -> None:
        await asyncio.to_thread(self.relay.stop)
        await asyncio.to_thread(self.client.stop)

    def health(self) -> dict[str, ComponentHealth]:
        try:  # exact, not as of the relay's last sweep (a store's IT reads it during an outage)
            self.relay.refresh_depth()
        except Exception as exc:  # the db component reports the database itself
            log.debug("mqtt health: queue depth not refreshed: %s", exc)
        details: dict[str, int | str] = {
            "queue_depth": self.relay.depth,
            "inflight": self.relay.inflight,
            "unpublishable_dropped": self.relay.dropped,  # see audit action mqtt.unpublishable
        }
        if self.relay.last_dropped:
            details["last_unpublishable"] = self.relay.last_dropped
        where = f"{self.client.host}:{self.client.port}"
        if not self.client.connected:
            reason = f"{self.client.last_error}; {self.relay.depth} message(s) queued, sent when it returns"
            return {"mqtt": ComponentHealth(status="degraded", reason=reason, details=details)}
        if self.relay.last_error:
            return {"mqtt": ComponentHealth(status="degraded", reason=self.relay.last_error, details=details)}
        if self.relay.depth and self.relay.oldest_age_s > STUCK_AFTER_S:
            reason = f"connected to {where} but {self.relay.depth} queued message(s) wait for PUBACK"
            return {"mqtt": ComponentHealth(status="degraded", reason=reason, details=details)}
        return {"mqtt": ComponentHealth(status="ok", reason=f"connected to {where}", details=details)}


def build(ctx: Context) -> Component:
    return MqttComponent(ctx)
