"""Claims and resolves arriving over MQTT from guide handhelds.

The broker's ACL lets only guide/supervisor/manager users publish on `.../claim`, and only the edge read it;
each message still carries the handheld's device token, checked like an HTTP request, so a
revoked handheld is refused even before the broker's accounts are rewritten. `event_id` makes a QoS 1
redelivery a no-op.

A message must always be acknowledged: a broker redelivers an unacked PUBLISH only after a
reconnect, and each one holds one of its in-flight slots (Mosquitto: 20), so a few unacked
claims would stop all claims. A database failure (e.g. "database is locked") is therefore
retried in-process with a bounded back-off (event_id makes a retry safe); when every attempt
fails the message is acknowledged anyway, logged, counted and audited as `fitting.claim_failed`.
"""

from __future__ import annotations

import json
import logging
import queue
from typing import Any, Literal

from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.fitting import topics
from edge.fitting.calls import CallService
from edge.mqtt.contract import Ack, Messaging
from edge.platform.errors import EdgeError, ResourceFault
from edge.platform.identity import HANDHELD_ROLES, Authenticator
from edge.platform.worker import Worker

log = logging.getLogger(__name__)

INBOUND = Counter("edge_fitting_inbound_total", "Guide messages received over MQTT", ["action", "result"])
RETRIES = Counter("edge_fitting_inbound_retries_total", "Guide messages retried after the database failed")
MAX_BYTES = 4096
MAX_BACKOFF_S = 2.0
MAX_UNRECORDED = 1000  # failed messages waiting for the database to take their audit record
ACTIONS = ("claim", "resolve")


class ClaimMessage(BaseModel):
    """The payload guides publish on retail/{store}/fitting/{room}/claim."""

    model_config = ConfigDict(extra="ignore")

    event_id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    call_id: str = Field(max_length=36)
    action: Literal["claim", "resolve"]
    device_token: str = Field(max_length=128)
    release: bool = False


class ClaimListener:
    """Subscribes at build time (the broker replays our session's queued claims right after
    CONNACK) and applies messages on its own thread: paho's network thread also writes our
    outgoing calls, so it must never wait on SQLite. The PUBACK goes only after the claim is
    committed, so a crash in between means the broker redelivers it (deduped by event_id)."""

    def __init__(
        self,
        store_id: str,
        calls: CallService,
        access: Authenticator,
        client: Messaging,
        *,
        attempts: int = 5,
        backoff_s: float = 0.2,
    ) -> None:
        self.store_id = store_id
        self.calls = calls
        self.access = access
        self.client = client
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.failed = 0  # messages given up on since start
        self._unrecorded: list[dict[str, Any]] = []  # failures whose audit record is not written yet
        self._q: queue.Queue[tuple[str, bytes, Ack] | None] = queue.Queue()
        self.worker = Worker("fitting-claims", self._run)
        client.subscribe(topics.claim_filter(store_id), self._on_message, qos=1, deferred_ack=True)

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        if self.worker.alive:
            self.worker.signal_stop()
            self._q.put(None)  # wakes the thread from its queue
            self.worker.stop(timeout_s)

    def _on_message(self, topic: str, payload: bytes, ack: Ack) -> None:
        self._q.put((topic, payload, ack))

    def _run(self, _w: Worker) -> None:
        while True:
            try:
                msg = self._q.get(timeout=1.0 if self._unrecorded else None)
            except queue.Empty:
                self._record_failures()
                continue
            if msg is None:
                if self._unrecorded:
                    self._record_failures()  # last chance; each failure was logged already
                return
            topic, payload, ack = msg
            if self._apply(topic, payload) is None:
                return  # stopping mid-retry: unacked, so the broker redelivers it after we reconnect
            ack()
            if self._unrecorded:
                self._record_failures()

    def _apply(self, topic: str, payload: bytes) -> str | None:
        """handle() with bounded retries; "failed" when the database never took it, None on stop."""
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                return self.handle(topic, payload)
            except Exception as exc:  # the database failed; nothing was committed, so a retry is safe
                if attempt == self.attempts:
                    return self._give_up(topic, payload, exc)
                RETRIES.inc()
                log.warning("fitting: guide message not applied (%s); retry %d in %.2fs", _short(exc), attempt, delay)
                if self.worker.sleep(delay):
                    return None
                delay = min(delay * 2, MAX_BACKOFF_S)
        return None  # not reached: the loop returns on its last attempt

    def _give_up(self, topic: str, payload: bytes, exc: Exception) -> str:
        action, event_id, call_id = _peek(payload)
        INBOUND.labels(action, "failed").inc()
        self.failed += 1
        log.error(
            "fitting: %s %s of call %s dropped after %d attempts (%s); the guide must send it again",
            action,
            event_id,
            call_id,
            self.attempts,
            _short(exc),
        )
        if len(self._unrecorded) >= MAX_UNRECORDED:
            log.error("fitting: %d claim failures wait for an audit record; oldest not audited", MAX_UNRECORDED)
            del self._unrecorded[0]
        detail = {"message_action": action, "call_id": call_id, "topic": topic[:200], "error": _short(exc)}
        self._unrecorded.append({"event_id": event_id, **detail})
        return "failed"

    def _record_failures(self) -> None:
        """Audit given-up messages once the database works again (it failed when they were dropped)."""
        rows, self._unrecorded = self._unrecorded, []
        try:
            with self.calls.store.write() as s:
                for row in rows:
                    detail = {k: v for k, v in row.items() if k != "event_id"}
                    s.audit("system:fitting-claims", "fitting.claim_failed", row["event_id"], **detail)
        except Exception as exc:
            log.warning("fitting: claim failures not audited yet (%s); retrying", _short(exc))
            self._unrecorded = rows + self._unrecorded

    def handle(self, topic: str, payload: bytes) -> str:
        """Apply one message (on the listener's thread, before its PUBACK: at least once). Returns the result."""
        room = topics.room_of_claim_topic(self.store_id, topic)
        action = "unknown"
        try:
            if room is None or len(payload) > MAX_BYTES:
                raise ValueError("wrong topic or oversized payload")
            msg = ClaimMessage.model_validate(json.loads(payload))
            action = msg.action
        except (ValueError, ValidationError):
            INBOUND.labels(action, "malformed").inc()
            log.warning("fitting: malformed guide message on %s dropped", topic[:120])
            return "malformed"
        try:
            who = self.access.authenticate(msg.device_token)
            if who.kind != "device" or who.role not in HANDHELD_ROLES:
                INBOUND.labels(action, "forbidden").inc()
                log.warning("fitting: %s from a %s device refused", action, who.role)
                return "forbidden"
            if msg.action == "claim":
                self.calls.claim(msg.call_id, who.id, event_id=msg.event_id, source="mqtt", room_id=room)
            else:
                self.calls.resolve(
                    msg.call_id,
                    who.id,
                    manager=who.leads_floor,
                    event_id=msg.event_id,
                    source="mqtt",
                    release=msg.release,
                    room_id=room,
                )
        except ResourceFault:
            raise  # the database failed: retried by _apply
        except EdgeError as exc:
            INBOUND.labels(action, exc.code).inc()
            log.info("fitting: %s of %s over MQTT refused: %s", action, msg.call_id, exc.code)
            return exc.code
        INBOUND.labels(action, "ok").inc()
        return "ok"


def _peek(payload: bytes) -> tuple[str, str, str]:
    """(action, event_id, call_id) of a message for logs and audit, never its device token."""
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return "unknown", "", ""
    action = data.get("action") if data.get("action") in ACTIONS else "unknown"
    return str(action), str(data.get("event_id", ""))[:64], str(data.get("call_id", ""))[:36]


def _short(exc: Exception) -> str:
    """The first line of an error (SQLAlchemy appends the SQL and its parameters)."""
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:200]
