"""A shopper's phone in the chain bench: scan-and-go at one store, with the same calls as
chain.Kiosk (a cart of tea, a member code attached, a payment), so the wallet rounds run on
phones beside the kiosks. The entry code is today's, signed with the box's own entry ring (as
the entrance screen shows it); the phone keeps the cookie the entry page sets."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx

from edge.config import load_settings
from edge.phone.codes import COOKIE, EntryCodes
from edge.platform.security import SecretStore, Signer


def entry_code(data: Path, store: str) -> str:
    settings = load_settings(None, overrides={"storage": {"data_dir": str(data)}, "store": {"id": store}})
    ring = SecretStore(data).keyring("entry_code")
    return EntryCodes(Signer("entry_code", ring), store, settings.store.timezone, settings.phone.entry_grace_h).code()


class Phone:
    def __init__(self, base: str, entry: str, tea: str) -> None:
        r = httpx.get(f"{base}/go/{entry}", timeout=30)
        assert r.status_code == 200 and COOKIE in r.cookies, r.text[:200]
        self.http = httpx.Client(base_url=base, headers={"Cookie": f"{COOKIE}={r.cookies[COOKIE]}"}, timeout=30)
        self.tea = tea

    def cart(self) -> str:
        """The phone's open cart with one tea in it: its id."""
        sid = str(self.http.get("/api/go/state").json()["cart"]["session_id"])
        r = self.http.post(f"/api/go/carts/{sid}/items", json={"code": self.tea, "scan_id": uuid.uuid4().hex})
        assert r.status_code == 201, r.text
        return sid

    def attach(self, sid: str, code: str) -> httpx.Response:
        return self.http.post(f"/api/go/carts/{sid}/member", json={"code": code})

    def pay(self, sid: str, barrier: threading.Barrier | None) -> tuple[int, float, str, str]:
        """(status, pay ms, error code, order id), after the barrier if any (the sandbox wallet pays at once)."""
        if barrier is not None:
            barrier.wait(30)
        t0 = time.perf_counter()
        r = self.http.post(f"/api/go/carts/{sid}/pay", json={"method": "sandbox", "idempotency_key": uuid.uuid4().hex})
        ms = (time.perf_counter() - t0) * 1000
        if r.status_code == 201:
            return 200, ms, "", str(r.json()["order"]["order_id"])
        return r.status_code, ms, r.json()["error"]["code"], ""
