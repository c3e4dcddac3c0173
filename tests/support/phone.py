"""A shopper's phone for API tests: today's entry code, and the cookie the entry page sets."""

from __future__ import annotations

from fastapi.testclient import TestClient

from edge.app import Daemon
from edge.phone.codes import COOKIE
from edge.phone.service import PhoneService


def entry_code(daemon: Daemon) -> str:
    return daemon.ctx.own(PhoneService).entry.code()


def go_headers(client: TestClient, daemon: Daemon) -> dict[str, str]:
    """A new phone: the entry page's cookie, as a header of its own (the client's jar is left as it was)."""
    saved = dict(client.cookies)
    client.cookies.clear()
    r = client.get(f"/go/{entry_code(daemon)}")
    assert r.status_code == 200, r.text[:200]
    cookie = r.cookies[COOKIE]
    client.cookies.clear()
    client.cookies.update(saved)
    return {"Cookie": f"{COOKIE}={cookie}"}
