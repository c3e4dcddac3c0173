"""The relay that drains the durable `mqtt_queue` table for every domain.

Write first, send later: a row is published at QoS 1 and deleted only once its PUBACK arrives.
paho keeps unacknowledged messages in memory and resends them itself after a reconnect; rows
still in the table after a daemon restart are simply published again. Receivers dedupe by the
`event_id` every payload carries, so an at-least-once resend never shows as a second message.

A row paho refuses to publish at all (a wildcard in its topic, an oversized payload) can never
go out: it is logged, counted, audited and deleted, so it never blocks the rows behind it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import text

from edge.mqtt.client import MqttClient
from edge.platform import mqttqueue as queue
from edge.platform.store import Store
from edge.platform.timeutil import as_utc, utcnow
from edge.platform.worker import Worker

log = logging.getLogger(__name__)

RELAY_PUBLISHED = Counter("edge_mqtt_relay_published_total", "Queued messages handed to paho (incl. resends)")
RELAY_ACKED = Counter("edge_mqtt_relay_acked_total", "Queued messages acknowledged by the broker and deleted")
RELAY_REFUSED = Counter(
    "edge_mqtt_relay_refused_total", "Queued messages the broker refused (e.g. ACL); dropped and logged"
)
RELAY_UNPUBLISHABLE = Counter(
    "edge_mqtt_relay_unpublishable_total",
    "Queued messages paho refused to publish (e.g. a wildcard in the topic); audited and dropped",
)
RELAY_RESENT = Counter("edge_mqtt_relay_resent_total", "Queued messages republished after no PUBACK came")
RELAY_DEPTH = Gauge("edge_mqtt_queue_depth", "Messages waiting in the durable MQTT queue")
RELAY_ACK_SECONDS = Histogram(
    "edge_mqtt_relay_ack_seconds",
    "Publish to PUBACK time of queued messages",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2, 10),
)


@dataclass
class _InFlight:
    info: mqtt.MQTTMessageInfo
    sent_at: float


@dataclass(frozen=True)
class _Unpublishable:
    topic: str
    event_id: str
    reason: str


class MqttRelay:
    """One thread; woken by commits that enqueued, by PUBACKs, by (re)connects, or its poll."""

    def __init__(
        self,
        store: Store,
        client: MqttClient,
        *,
        window: int = 500,
        poll_s: float = 0.5,
        resend_after_s: float = 15.0,
        min_cycle_s: float = 0.1,
    ) -> None:
        self.store = store
        self.client = client
        self.window = window
        self.poll_s = poll_s
        self.resend_after_s = resend_after_s
        # Committed messages go out on the committing thread (on_commit), so the loop only
        # deletes acknowledged rows and sends backlogs; at 100+ PUBACKs a second, one sweep per
        # `min_cycle_s` instead of one per wake keeps it from competing with the request path.
        self.min_cycle_s = min_cycle_s
        self._maybe_unsent = True  # rows may wait in the table that on_commit did not send
        self._inflight: dict[int, _InFlight] = {}  # seq -> what paho is sending
        self._lock = threading.Lock()  # guards _inflight: the loop and committing threads both send
        self._refusals: dict[int, ReasonCode] = {}  # mid -> failure reason code from a PUBACK
        self._unpublishable: dict[int, _Unpublishable] = {}  # seq -> why paho would not send it
        self.worker = Worker("mqtt-relay", self._run)
        self._connected_at = 0.0
        self.depth = 0
        self.oldest_age_s = 0.0
        self.last_error = ""
        self.dropped = 0  # unpublishable rows deleted since start (shown in /readyz details)
        self.last_dropped = ""
        client.add_on_publish(self._on_puback)
        client.add_on_connect(self._on_connect)

    # --- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        self.store.on_mqtt_committed(self.on_commit)
        self.worker.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        self.store.off_mqtt_committed(self.on_commit)
        self.worker.stop(timeout_s)
        try:  # last chance to delete what was acknowledged while stopping
            self._collect_acks()
        except Exception:
            log.debug("relay: final ack sweep failed", exc_info=True)

    def kick(self) -> None:
        """Look at the table now (e.g. after another process wrote to it); safe from any thread."""
        self._maybe_unsent = True
        self.worker.wake()

    def on_commit(self, rows: list[queue.Committed]) -> None:
        """Publish what a transaction just committed, on the committing thread: one thread
        hop less between a guide call and the guide. Anything skipped here the loop sends."""
        sent = 0
        if self.client.connected:
            with self._lock:
                for row in rows:
                    if not self._send(row.seq, row.topic, row.payload, row.qos, row.retain):
                        break
                    sent += 1
        if sent < len(rows):
            self._maybe_unsent = True
            self.worker.wake()

    def _send(self, seq: int, topic: str, payload: str, qos: int, retain: bool) -> bool:
        """Publish one row unless it is in flight already; False when no more may go now."""
        if seq in self._inflight or seq in self._unpublishable:
            return True
        if len(self._inflight) >= self.window or not self.client.connected:
            return False
        try:
            info = self.client.publish(topic, payload, qos=int(qos), retain=bool(retain))
        except Exception as exc:  # paho validates before sending: this row can never go out
            self._set_aside(int(seq), topic, payload, exc)
            return True
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            return False
        self._inflight[int(seq)] = _InFlight(info=info, sent_at=time.monotonic())
        RELAY_PUBLISHED.inc()
        return True

    def _set_aside(self, seq: int, topic: str, payload: str, exc: Exception) -> None:
        """Mark a row for deletion by the relay thread (caller holds _lock); it blocks nothing."""
        try:
            event_id = str(json.loads(payload).get("event_id", ""))[:64]
        except (ValueError, AttributeError):
            event_id = ""
        reason = f"{type(exc).__name__}: {exc}"[:200]
        self._unpublishable[seq] = _Unpublishable(topic=topic[:255], event_id=event_id, reason=reason)
        RELAY_UNPUBLISHABLE.inc()
        log.error("mqtt: queued message seq=%s on %r cannot be published (%s); dropping it", seq, topic[:120], reason)

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    # --- paho callbacks (network thread; must not block or call into paho) ------------
    def _on_puback(self, mid: int, rc: ReasonCode) -> None:
        if rc.is_failure:
            self._refusals[mid] = rc
        self.worker.wake()

    def _on_connect(self) -> None:
        self._connected_at = time.monotonic()
        self._maybe_unsent = True
        self.worker.wake()

    # --- the loop ---------------------------------------------------------------------
    def _run(self, w: Worker) -> None:
        last = 0.0
        while not w.stopping:
            if not w.wait(self.poll_s):
                self._maybe_unsent = True  # the poll is the safety net: look at the table
            gap = last + self.min_cycle_s - time.monotonic()
            if gap > 0 and w.sleep(gap):
                break
            w.wait(0)  # wakes that came during the gap are served by this cycle
            if w.stopping:
                break
            last = time.monotonic()
            try:
                self._cycle()
                self.last_error = ""
            except Exception as exc:  # a locked or full database must not kill the relay
                self.last_error = f"relay error: {exc}"[:200]
                log.exception("mqtt relay cycle failed; retrying")
                w.sleep(1.0)

    def _cycle(self) -> None:
        try:
            self._publish_pending()
        finally:  # acknowledged rows must leave the table even when publishing failed
            self._collect_acks()
            self._drop_unpublishable()
            self.refresh_depth()

    def _drop_unpublishable(self) -> None:
        """Delete rows paho refused, each with an audit record saying what was lost and why."""
        with self._lock:
            bad = dict(self._unpublishable)
        if not bad:
            return
        with self.store.write() as s:
            for seq, row in bad.items():
                s.run(text("DELETE FROM mqtt_queue WHERE seq = :seq"), {"seq": seq})
                s.audit("system:mqtt-relay", "mqtt.unpublishable", row.event_id, topic=row.topic, reason=row.reason)
        with self._lock:
            for seq in bad:
                self._unpublishable.pop(seq, None)
        self.dropped += len(bad)
        last = bad[max(bad)]
        self.last_dropped = f"{last.topic[:120]}: {last.reason}"[:200]

    def _collect_acks(self) -> None:
        acked: list[int] = []
        now = time.monotonic()
        with self._lock:
            flying = list(self._inflight.items())
        for seq, fl in flying:
            if fl.info.is_published():
                rc = self._refusals.pop(fl.info.mid, None)
                if rc is not None:
                    RELAY_REFUSED.inc()
                    log.error("mqtt: broker refused queued message seq=%s: %s; dropping it", seq, rc)
                else:
                    RELAY_ACKED.inc()
                    RELAY_ACK_SECONDS.observe(now - fl.sent_at)
                acked.append(seq)
        if not acked:
            return
        # The delete need not be fsynced: if a power cut undoes it, the message is sent again
        # and receivers drop it by event_id. That keeps the disk for the commits that matter.
        with self.store.write(durable=False) as conn:
            for i in range(0, len(acked), 500):
                marks = ",".join(str(int(s)) for s in acked[i : i + 500])
                conn.run(text(f"DELETE FROM mqtt_queue WHERE seq IN ({marks})"))  # noqa: S608 (ints)
        with self._lock:
            for seq in acked:
                self._inflight.pop(seq, None)

    def _publish_pending(self) -> None:
        if not self.client.connected:
            return
        now = time.monotonic()
        if now - self._connected_at > self.resend_after_s:
            # Connected for a while and still no PUBACK: paho may have lost it (e.g. the broker
            # dropped our session). Publish again; receivers dedupe by event_id.
            with self._lock:
                stale = [s for s, fl in self._inflight.items() if now - fl.sent_at > self.resend_after_s]
                for seq in stale:
                    if not self._inflight[seq].info.is_published():
                        del self._inflight[seq]
                        RELAY_RESENT.inc()
                        self._maybe_unsent = True
        free = self.window - len(self._inflight)
        if free <= 0 or not self._maybe_unsent:
            return
        self._maybe_unsent = False  # cleared before the read: a commit meanwhile sets it again
        limit = free + len(self._inflight) + len(self._unpublishable)
        with self.store.read() as conn:
            rows = conn.run(
                text("SELECT seq, topic, payload, qos, retain FROM mqtt_queue ORDER BY seq LIMIT :n"), {"n": limit}
            ).all()
        if len(rows) >= limit:
            self._maybe_unsent = True  # more behind this page
        if rows:
            self.store.sync_committed()  # group commit: never publish a row a power cut could undo
        with self._lock:
            for seq, topic, payload, qos, retain in rows:
                if not self._send(int(seq), topic, payload, qos, retain):
                    self._maybe_unsent = True
                    break

    def refresh_depth(self) -> None:
        """Count the table now (readyz asks for it; the loop refreshes it at most every sweep)."""
        with self.store.read() as conn:
            row = conn.run(text("SELECT count(*), min(created_at) FROM mqtt_queue")).one()
        self.depth = int(row[0])
        RELAY_DEPTH.set(self.depth)
        self.oldest_age_s = 0.0
        if row[1] is not None:
            oldest = row[1] if isinstance(row[1], datetime) else datetime.fromisoformat(str(row[1]))
            self.oldest_age_s = max(0.0, (utcnow() - as_utc(oldest)).total_seconds())
