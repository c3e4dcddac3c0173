"""The staff-task benchmark's world (scripts/bench/staff.py): the store it runs in, the kiosks that
raise tasks over HTTP, and the staff handhelds that hear of them over MQTT and claim them over HTTP.

The broker is set up as the store's (systemd/mosquitto/mosquitto.conf): no anonymous logins,
`retail-edge mqtt accounts` writes the password file and ACL from the device registry, client ids
are bound to accounts, and each handheld logs in as its device id with its device token.
"""

from __future__ import annotations

import queue
import random
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from mqtt_devices import DeviceProcess, Inbox, client

from edge.demo.catalog import RICE_WINE
from tests.support.services import DaemonProcess, Mosquitto

STORE = "bench"
TASK_TOPIC = f"retail/{STORE}/staff/task"
FLOOR_TOPIC = "retail/floor/staff/task"  # the baseline's topic: a store no handheld listens to
FLOOR_DEVICE = "floor-probe"  # a manager account that only the baseline's subscriber uses
OUTCOME = {"id_check": "approved", "kiosk_help": "helped"}
RETRY_FOR_S = 90.0  # a request is resent (the same request) this long while the daemon is away


# --- HTTP as the kiosks and handhelds speak it ----------------------------------------------------
@dataclass
class Answer:
    status: int  # 0: no answer within RETRY_FOR_S
    body: Any
    rtt_ms: float  # the attempt that was answered
    answered_at: float
    retries: int


def post(http: httpx.Client, path: str, body: dict[str, Any] | None = None) -> Answer:
    """POST, resending the same request while the daemon is unreachable or answers 5xx."""
    retries, give_up = 0, time.perf_counter() + RETRY_FOR_S
    while True:
        t_try = time.perf_counter()
        try:
            r = http.post(path, json=body)
            if r.status_code < 500:
                now = time.perf_counter()
                return Answer(r.status_code, r.json(), (now - t_try) * 1000, now, retries)
        except httpx.HTTPError:
            pass
        if time.perf_counter() > give_up:
            return Answer(0, None, 0.0, time.perf_counter(), retries)
        retries += 1
        time.sleep(0.1)  # a device's back-off before it resends


def error_code(a: Answer) -> str:
    err = a.body.get("error", {}) if isinstance(a.body, dict) else {}
    return f"{a.status}:{err.get('code', '?')}"


# --- the store ------------------------------------------------------------------------------------
@dataclass
class Shop:
    broker: Mosquitto
    daemon: DaemonProcess
    kiosk_tokens: list[str]
    handhelds: list[tuple[str, str]]  # (device id, device token): the broker login too
    edge_auth: tuple[str, str]
    floor_auth: tuple[str, str]


def build_shop(work: Path, kiosks: int, handhelds: int) -> Shop:
    """Seed the demo catalog and the devices, write the broker's accounts from the registry as the
    store does, and start the broker with them (the daemon is not started here)."""
    from edge.access.service import AccessService
    from edge.app import prepare_storage
    from edge.config import load_settings
    from edge.demo.catalog import seed_catalog
    from edge.platform.security import SecretStore, Signer

    edge_password = secrets.token_urlsafe(16)
    mosquitto_dir = work / "mosquitto"
    passwd, acl = mosquitto_dir / "passwd", mosquitto_dir / "acl"
    shipped = "use_username_as_clientid true\nmax_inflight_messages 100\n"  # as mosquitto.conf
    broker = Mosquitto(mosquitto_dir, extra_conf=f"password_file {passwd}\nacl_file {acl}\n{shipped}")
    config: dict[str, Any] = {
        "store": {"id": STORE},
        "logging": {"level": "WARNING"},
        "mqtt": {"url": broker.url, "username": "edge", "relay_poll_s": 0.5},
        "checkout": {"task_escalate_s": 3600},
    }
    daemon = DaemonProcess(work / "data", config=config, env={"RETAIL_EDGE_SECRET_MQTT_PASSWORD": edge_password})
    data_dir = daemon.data_dir
    settings = load_settings(None, overrides={"storage": {"data_dir": str(data_dir)}})
    seed_catalog(settings)
    db = prepare_storage(settings)
    access = AccessService(db, Signer("session", SecretStore(data_dir).keyring("session")))
    kiosk_tokens = [access.add_device(f"kiosk-{n}", "kiosk") for n in range(kiosks)]
    devices = [(f"handheld-{i}", "manager" if i % 5 == 4 else "guide") for i in range(handhelds)]
    handheld_logins = [(d, access.add_device(d, role)) for d, role in devices]
    floor_auth = (FLOOR_DEVICE, access.add_device(FLOOR_DEVICE, "manager"))
    db.dispose()

    daemon.cli("mqtt", "accounts", "--passwd", str(passwd), "--acl", str(acl))
    return Shop(broker, daemon, kiosk_tokens, handheld_logins, ("edge", edge_password), floor_auth)


# --- the kiosks -----------------------------------------------------------------------------------
@dataclass
class Request:
    n: int
    kind: str
    session_id: str
    t0: float  # the kiosk's request sent
    answer: Answer
    task_id: str | None  # the help answer names its task; an added item does not


class Kiosks:
    """Kiosk devices over HTTP: each opens a cart, then adds the rice wine (an ID check) or presses
    "call staff" (a help task); request n is due at t_start + n / rate."""

    def __init__(self, url: str, tokens: list[str], id_share: float, seed: int) -> None:
        self.clients = [
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {t}"}, timeout=5.0) for t in tokens
        ]
        self.id_share, self.seed = id_share, seed
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.errors: Counter[str] = Counter()
        self.open_retries = 0

    def warm_up(self) -> list[str]:
        """One help task per kiosk, not measured: connections, code paths and caches warm."""
        done: list[str] = []

        def one(http: httpx.Client) -> None:
            sid = post(http, "/api/kiosk/sessions", {}).body["session_id"]
            post(http, f"/api/kiosk/sessions/{sid}/help")
            with self.lock:
                done.append(sid)

        self._each(one)
        return done

    def drive(self, count: int, rate: float, t_start: float) -> None:
        def loop(k: int, http: httpx.Client) -> None:
            for n in range(k, count, len(self.clients)):
                delay = t_start + n / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)  # the schedule: request n is due then
                self._request(n, http)

        threads = [threading.Thread(target=loop, args=(k, c)) for k, c in enumerate(self.clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

    def _each(self, fn: Any) -> None:
        threads = [threading.Thread(target=fn, args=(c,)) for c in self.clients]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

    def _request(self, n: int, http: httpx.Client) -> None:
        kind = "id_check" if random.Random(self.seed * 100003 + n).random() < self.id_share else "kiosk_help"
        opened = post(http, "/api/kiosk/sessions", {})
        with self.lock:
            self.open_retries += opened.retries
        if opened.status != 201:
            with self.lock:
                self.errors[f"open {error_code(opened)}"] += 1
            return
        sid = opened.body["session_id"]
        t0 = time.perf_counter()
        if kind == "id_check":
            a = post(http, f"/api/kiosk/sessions/{sid}/items", {"code": RICE_WINE, "qty": 1})
        else:
            a = post(http, f"/api/kiosk/sessions/{sid}/help", {"request_id": f"bench-{n}"})
        task_id = a.body.get("id") if kind == "kiosk_help" and a.status in (200, 201) else None
        with self.lock:
            self.requests.append(Request(n, kind, sid, t0, a, task_id))
            if a.status not in (200, 201):
                self.errors[f"{kind} {error_code(a)}"] += 1

    def close(self) -> None:
        for c in self.clients:
            c.close()


# --- the handhelds --------------------------------------------------------------------------------
class Handhelds:
    """Some of the handhelds: each a persistent MQTT session logged in with its device credentials,
    deduping by event_id, and a thread that claims (and, when it wins, resolves) over HTTP."""

    def __init__(self, port: int, url: str, mine: list[tuple[int, str, str]], total: int, claimers: int) -> None:
        self.url, self.total, self.claimers = url, total, claimers
        self.lock = threading.Lock()
        self.subscribed = {i: threading.Event() for i, _d, _t in mine}
        self.first_seen: dict[str, float] = {}  # task id -> earliest receipt of its open here
        self.inboxes = {i: Inbox() for i, _d, _t in mine}
        self.open_events: dict[int, dict[str, set[str]]] = {i: defaultdict(set) for i, _d, _t in mine}
        self.session_tasks: dict[str, set[str]] = defaultdict(set)
        self.done: set[str] = set()
        self.winners: dict[str, set[int]] = defaultdict(set)
        self.claims_409: Counter[str] = Counter()
        self.claim_errors: Counter[str] = Counter()
        self.resolve_errors: Counter[str] = Counter()
        self.resolved: set[str] = set()
        self.claim_ms: list[float] = []
        self.resolve_ms: list[float] = []
        self.queues: dict[int, queue.Queue[tuple[str, str] | None]] = {i: queue.Queue() for i, _d, _t in mine}
        self.workers = [threading.Thread(target=self._work, args=(i, tok), daemon=True) for i, _d, tok in mine]
        for w in self.workers:
            w.start()
        self.clients = [
            client(port, dev, self._on_message(i), self._on_connect(i), auth=(dev, tok)) for i, dev, tok in mine
        ]

    def wait_subscribed(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(ev.wait(max(0.0, deadline - time.monotonic())) for ev in self.subscribed.values())

    def _on_connect(self, i: int) -> Any:
        def on_connect(c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            if not rc.is_failure:
                c.on_subscribe = lambda *_a: self.subscribed[i].set()  # before the SUBACK can come
                c.subscribe(TASK_TOPIC, qos=1)

        return on_connect

    def _claims(self, task_id: str, i: int) -> bool:
        """Whether handheld i is one of the task's `claimers` (a ring from the task's hash)."""
        first = int(task_id.replace("-", ""), 16) % self.total
        return (i - first) % self.total < self.claimers

    def _on_message(self, i: int) -> Any:
        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            if (got := self.inboxes[i].take(msg)) is None:
                return  # a QoS 1 redelivery: handled already
            now, data = got
            tid, state = data["id"], data["state"]
            with self.lock:
                if state == "done":
                    self.done.add(tid)
                if state != "open":
                    return
                self.open_events[i][tid].add(data["event_id"])
                self.first_seen.setdefault(tid, now)
                self.session_tasks[str(data["session_id"])].add(tid)
            if self._claims(tid, i):
                self.queues[i].put((tid, data["kind"]))

        return on_message

    def _work(self, i: int, token: str) -> None:
        http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=5.0)
        while (item := self.queues[i].get()) is not None:
            tid, kind = item
            if kind not in OUTCOME:  # a kind this bench does not raise (a pack pull): not its work
                continue
            claim = post(http, f"/api/staff/tasks/{tid}/claim")
            with self.lock:
                if claim.status == 200:
                    self.winners[tid].add(i)
                    self.claim_ms.append(claim.rtt_ms)
                elif claim.status == 409:
                    self.claims_409[error_code(claim)] += 1
                else:
                    self.claim_errors[error_code(claim)] += 1
            if claim.status != 200:
                continue
            done = post(http, f"/api/staff/tasks/{tid}/resolve", {"outcome": OUTCOME[kind]})
            with self.lock:
                if done.status == 200:
                    self.resolved.add(tid)
                    self.resolve_ms.append(done.rtt_ms)
                else:
                    self.resolve_errors[error_code(done)] += 1
        http.close()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "first_seen": dict(self.first_seen),
                "open_events": {i: {t: set(e) for t, e in g.items()} for i, g in self.open_events.items()},
                "session_tasks": {s: set(t) for s, t in self.session_tasks.items()},
                "done": set(self.done),
                "winners": {t: set(w) for t, w in self.winners.items()},
                "claims_409": Counter(self.claims_409),
                "claim_errors": Counter(self.claim_errors),
                "resolve_errors": Counter(self.resolve_errors),
                "resolved": set(self.resolved),
                "claim_ms": list(self.claim_ms),
                "resolve_ms": list(self.resolve_ms),
                "redeliveries": sum(ib.redeliveries for ib in self.inboxes.values()),
                "cpu_s": time.process_time(),
            }

    def close(self) -> None:
        for q in self.queues.values():
            q.put(None)
        for c in self.clients:
            c.disconnect()
            c.loop_stop()
        for w in self.workers:
            w.join(10)


def _handhelds_main(port: int, url: str, mine: list[tuple[int, str, str]], total: int, claimers: int,
                    conn: Any) -> None:  # fmt: skip
    hh = Handhelds(port, url, mine, total, claimers)
    conn.send(hh.wait_subscribed(60))
    while conn.recv() != "close":
        conn.send(hh.snapshot())
    hh.close()
    conn.send("closed")


class HandheldProcess(DeviceProcess):
    """Some handhelds (Handhelds) in a process of their own."""

    def __init__(self, port: int, url: str, mine: list[tuple[int, str, str]], total: int, claimers: int) -> None:
        super().__init__(_handhelds_main, port, url, mine, total, claimers)

    def wait_subscribed(self) -> None:
        """Until every handheld here has its subscription acknowledged by the broker."""
        if self.ready(90, "a handheld process") is not True:
            raise RuntimeError("a handheld did not connect and subscribe")


def merge(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One view of every handheld process's snapshot."""
    out: dict[str, Any] = {"first_seen": {}, "open_events": {}, "session_tasks": defaultdict(set), "done": set(),
                           "winners": defaultdict(set), "claims_409": Counter(), "claim_errors": Counter(),
                           "resolve_errors": Counter(), "resolved": set(), "claim_ms": [], "resolve_ms": [],
                           "redeliveries": 0, "cpu_s": 0.0}  # fmt: skip
    for p in parts:
        for tid, t in p["first_seen"].items():
            out["first_seen"][tid] = min(t, out["first_seen"].get(tid, t))
        out["open_events"].update(p["open_events"])
        for key in ("session_tasks", "winners"):
            for k, v in p[key].items():
                out[key][k] |= v
        for key in ("done", "resolved"):
            out[key] |= p[key]
        for key in ("claims_409", "claim_errors", "resolve_errors", "claim_ms", "resolve_ms", "redeliveries", "cpu_s"):
            out[key] += p[key]
    return out
