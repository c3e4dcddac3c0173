"""The simulated phone of the phone benchmark: what kiosk_ui/phone's page does, over HTTP.

A phone loops shoppers until its step ends: open the entry page (a new `re_go` cookie), read its
cart, show a basket of 3-5 photos of different GTINs to the camera, pay, and leave through the
gate. Frames go as the page sends them (scanner.js, net.js): a new `X-Frame-Id` each, the page's
clock at capture in `X-Frame-Time`, the next capture 250 ms after the last and after the previous
answer (at most 4 a second, one in flight); after a 503 `scanner_busy` or a 429 `too_many_frames`
nothing for the `retry_after_s` it names. A photo is shown until its item is added or `frame_cap`
frames were sent. The phones of one client process are threads (groups.run_groups spreads them).
"""

from __future__ import annotations

import pickle
import random
import threading
import time
import uuid
from collections import Counter
from typing import Any

import httpx

PAGE_INTERVAL_S = 0.25  # the page: at most 4 frames a second, one request in flight
PAY_POLL_S = 0.2  # the page polls a wallet payment a few times a second
COOKIE = "re_go"
BUSY = ((503, "scanner_busy"), (429, "too_many_frames"))

_PHOTOS: dict[str, list[dict[str, Any]]] = {}


def photos_from(path: str) -> list[dict[str, Any]]:
    """The photos phone.py pickled for its client processes (read once per process)."""
    if path not in _PHOTOS:
        with open(path, "rb") as fh:
            _PHOTOS[path] = pickle.load(fh)  # written by this benchmark a moment ago
    return _PHOTOS[path]


def new_tally() -> dict[str, Any]:
    """What phones measured; merged by adding, so it crosses the client processes' pipes as is."""
    return {
        "rt_ms": [], "rt_add_ms": [], "decoders_ms": [], "frames": 0, "frames_ok": 0, "frames_seen": 0,
        "status": Counter(), "shown": 0, "read": 0, "frames_per_read": [], "wrong_items": [], "refused": Counter(),
        "refused_reads": Counter(), "orders": [], "pay_ms": [], "gate_open": 0, "empty_carts": 0, "visits": 0,
        "errors": [], "client_cpu_s": 0.0,
    }  # fmt: skip


def merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        into[key] = into[key] + value


def phone_group(jobs: list[tuple[Any, ...]], conn: Any) -> None:
    """groups.run_groups' target: this process's phones as threads; sends back one tally."""
    out, lock, stop = new_tally(), threading.Lock(), threading.Event()
    seconds = max(float(job[5]) for job in jobs)
    threads = [threading.Thread(target=phone, args=(*job, stop, out, lock)) for job in jobs]
    conn.send("ready")
    conn.recv()
    cpu0 = time.process_time()
    timer = threading.Timer(seconds, stop.set)  # the step's end: phones finish their visit, then stop
    timer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    timer.cancel()
    out["client_cpu_s"] = time.process_time() - cpu0
    conn.send(out)


def phone(
    base: str,
    code: str,
    gate: str,
    photos_path: str,
    seed_n: int,
    seconds: float,
    frame_cap: int,
    controls: dict[str, str] | None,
    stop: threading.Event,
    out: dict[str, Any],
    lock: threading.Lock,
) -> None:
    """One phone: shoppers one after another until `stop`; whatever it raises is an error."""
    rng = random.Random(seed_n)
    photos = photos_from(photos_path)
    if stop.wait(rng.uniform(0, PAGE_INTERVAL_S)):  # phones are not in step with each other
        return
    with httpx.Client(base_url=base, timeout=30) as c:
        while not stop.is_set():
            mine = new_tally()
            try:
                Visit(c, rng, stop, frame_cap, mine).run(code, gate, photos, controls)
            except Exception as exc:  # a crash of the phone is an error of the run
                mine["errors"].append(f"phone crashed: {exc!r}"[:300])
            with lock:
                merge(out, mine)


class Visit:
    """One shopper on one phone: enter, scan a basket, pay, leave."""

    def __init__(
        self, c: httpx.Client, rng: random.Random, stop: threading.Event, frame_cap: int, tally: dict[str, Any]
    ) -> None:
        self.c, self.rng, self.stop, self.frame_cap, self.t = c, rng, stop, frame_cap, tally
        self.page_id = uuid.uuid4().hex[:12]
        self.t_page0 = time.monotonic()
        self.last_capture = -1.0
        self.backoff_until = 0.0
        self.n = 0
        self.h: dict[str, str] = {}

    def run(self, code: str, gate: str, photos: list[dict[str, Any]], controls: dict[str, str] | None) -> None:
        self.t["visits"] += 1
        self.c.cookies.clear()
        r = self.c.get(f"/go/{code}")
        if r.status_code != 200 or COOKIE not in r.cookies:
            self.t["errors"].append(f"entry: {r.status_code} {r.text[:120]}")
            self.stop.wait(1.0)
            return
        self.h = {"Cookie": f"{COOKIE}={r.cookies[COOKIE]}"}  # explicit: one client, one shopper at a time
        self.c.cookies.clear()
        r = self.c.get("/api/go/state", headers=self.h)
        if r.status_code != 200:
            self.t["errors"].append(f"state: {r.status_code} {r.text[:120]}")
            return
        cart: dict[str, Any] = r.json()["cart"]
        sid = str(cart["session_id"])
        for i in self.basket(photos):
            if self.stop.is_set():
                break
            cart = self.show(sid, photos[i]) or cart
        if not cart.get("lines"):
            self.t["empty_carts"] += 1
            return
        self.pay(sid, cart, gate, controls)

    def basket(self, photos: list[dict[str, Any]]) -> list[int]:
        """3-5 photos of different items (the same item held again would count once)."""
        size, chosen, gtins = self.rng.randint(3, 5), list[int](), set[str]()
        for i in self.rng.sample(range(len(photos)), len(photos)):
            if not gtins & set(photos[i]["gtins"]):
                chosen.append(i)
                gtins |= set(photos[i]["gtins"])
            if len(chosen) == size:
                break
        return chosen

    def show(self, sid: str, photo: dict[str, Any]) -> dict[str, Any] | None:
        """Frames of one photo until its item is added (or the cap); the last cart answered."""
        expected, cart, read = set(photo["gtins"]), None, False
        for k in range(self.frame_cap):
            # the page's timer: 250 ms after the last capture, the answer in, any back-off over
            # (the step's end does not cut a photo short: every photo shown has its chance)
            wait = max(self.last_capture + PAGE_INTERVAL_S, self.backoff_until) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.last_capture = time.monotonic()
            self.n += 1
            headers = {**self.h, "Content-Type": "image/jpeg", "X-Frame-Id": f"{self.page_id}-{self.n}",
                       "X-Frame-Time": f"{(self.last_capture - self.t_page0) * 1000:.1f}"}  # fmt: skip
            t0 = time.perf_counter()
            r = self.c.post(f"/api/go/carts/{sid}/frames", content=photo["jpeg"], headers=headers)
            ms = (time.perf_counter() - t0) * 1000
            self.t["frames"] += 1
            self.t["status"][str(r.status_code)] += 1
            if r.status_code != 200:
                self.refused_frame(r)
                continue
            body = r.json()
            self.t["frames_ok"] += 1
            self.t["rt_ms"].append(ms)
            self.t["decoders_ms"].append(float(body.get("decode_ms") or 0.0))
            self.t["frames_seen"] += body.get("seen", 0) > 0
            cart = body.get("cart") or cart
            added, read = self.reads(photo, expected, body.get("reads", []))
            if added:
                self.t["rt_add_ms"].append(ms)
            if read:
                self.t["frames_per_read"].append(k + 1)
                break
        self.t["shown"] += 1
        self.t["read"] += read
        return cart

    def refused_frame(self, r: httpx.Response) -> None:
        is_json = r.headers.get("content-type", "").startswith("application/json")
        err = r.json().get("error", {}) if is_json else {}
        if (r.status_code, err.get("code")) in BUSY:
            after = (err.get("details") or {}).get("retry_after_s")  # net.js slowDown
            after = min(float(after), 30.0) if isinstance(after, int | float) and after > 0 else 1.0
            self.backoff_until = time.monotonic() + after
        else:
            self.t["errors"].append(f"frame: {r.status_code} {r.text[:120]}")

    def reads(self, photo: dict[str, Any], expected: set[str], reads: list[dict[str, Any]]) -> tuple[bool, bool]:
        """(an item was added, the photo's own item was added); any other item is a wrong item."""
        added = read = False
        for rd in reads:
            if not rd.get("ok"):
                self.t["refused"][str(rd.get("code"))] += 1
                self.t["refused_reads"][f"{photo['image']} read {str(rd.get('text'))[:40]!r}: {rd.get('code')}"] += 1
                continue
            item = rd.get("item") or {}
            if rd.get("result") != "added" or not item:
                self.t["refused"][f"result:{rd.get('result')}"] += 1
                continue
            added = True
            if item.get("gtin") in expected:
                read = True
            else:
                self.t["wrong_items"].append(f"{photo['image']}: added {item.get('gtin')} not {sorted(expected)}")
        return added, read

    def pay(self, sid: str, cart: dict[str, Any], gate: str, controls: dict[str, str] | None) -> None:
        """Sandbox at once; or in the wallet app (the gateway simulator pays, the page polls).
        Then the exit pass at the gate."""
        method = self.rng.choice(sorted(controls)) if controls else "sandbox"
        body = {"method": method, "expected_total_minor": cart["total_minor"], "idempotency_key": uuid.uuid4().hex}
        t0 = time.perf_counter()
        r = self.c.post(f"/api/go/carts/{sid}/pay", json=body, headers=self.h)
        if r.status_code != 201:
            self.t["errors"].append(f"pay: {r.status_code} {r.text[:160]}")
            return
        answer = r.json()
        if controls:
            key = answer["wallet"]["payment_id"]
            httpx.post(f"{controls[method]}/_sim/pay", json={"out_trade_no": key}, timeout=30).raise_for_status()
            until = time.monotonic() + 30
            while answer.get("status") == "waiting" and time.monotonic() < until:
                time.sleep(PAY_POLL_S)  # the page's polling timer
                answer = self.c.get(f"/api/go/carts/{sid}/payment", headers=self.h).json()
        if answer.get("status") != "paid":
            self.t["errors"].append(f"pay: {answer.get('status')} {str(answer)[:160]}")
            return
        order = answer["order"]
        self.t["pay_ms"].append((time.perf_counter() - t0) * 1000)
        self.t["orders"].append((sid, order["order_id"], order.get("total_minor")))
        auth = {"Authorization": f"Bearer {gate}"}
        r = self.c.post("/api/gate/verify", json={"text": order["exit_pass"]}, headers=auth)
        if r.status_code == 200 and r.json().get("open"):
            self.t["gate_open"] += 1
        else:
            self.t["errors"].append(f"gate: {r.status_code} {r.text[:120]}")
