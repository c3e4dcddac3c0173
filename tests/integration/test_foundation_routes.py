"""Nothing but health, the API contract and the shopper pages answers without credentials:
every route the app really serves is walked, so a new router cannot forget its auth."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from edge.app import Daemon

# (method, path) that answer anonymously, and why.
ANONYMOUS = {
    ("GET", "/healthz"): "liveness, for systemd and the load balancer",
    ("GET", "/readyz"): "readiness, component states without personal data",
    ("GET", "/metrics"): "Prometheus scrape, counters and timings only",
    ("GET", "/openapi.json"): "the API contract the issue asks to publish",
    ("POST", "/api/auth/login"): "where a store-IT user gets credentials",
    ("GET", "/favicon.ico"): "an icon",
    ("GET", "/api/ui/store"): "store name, zone and currency the shopper page formats with",
    ("GET", "/kiosk"): "redirect to the static page, which then signs in",
    ("GET", "/dashboard"): "redirect to the static page, which then signs in",
    ("GET", "/guide"): "redirect to the static page, which then signs in",
    ("GET", "/gate"): "redirect to the static page, which then signs in",
    ("POST", "/api/payments/{rail}/notify"): "a payment gateway's notification: its signature is the credential",
}
# The shopper's phone page and its API: no login, but a signed room code in the path.
SHOPPER_PREFIXES = ("/fit/", "/api/fitting/rooms/{token}")
STATIC_MOUNTS = {"/ui"}


def _app(client: TestClient) -> FastAPI:
    """The app under test (TestClient types it as any ASGI callable)."""
    assert isinstance(client.app, FastAPI), type(client.app)
    return client.app


def _served(client: TestClient) -> list[tuple[str, str]]:
    out = []
    for route in iter_route_contexts(_app(client).routes):
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                out.append((method, str(route.path)))
    return out


def test_every_route_outside_the_allow_list_refuses_anonymous_callers(
    app_client: tuple[TestClient, Daemon],
) -> None:
    client, _ = app_client
    served = _served(client)
    assert len(served) > 40, "the walk found the domains' routers"
    open_to_all: list[str] = []
    for method, path in served:
        url = path.replace("{", "x").replace("}", "")  # any value: auth comes before lookup
        r = client.request(method, url, json={} if method in ("POST", "PUT", "PATCH") else None)
        if (method, path) in ANONYMOUS:
            assert r.status_code not in (401, 403), (method, path, r.status_code)
        elif path.startswith(SHOPPER_PREFIXES):
            assert r.status_code in (400, 403), f"{method} {path} accepted a forged room code"
        elif r.status_code not in (401, 403):
            open_to_all.append(f"{method} {path} -> {r.status_code}")
    assert open_to_all == []
    assert set(ANONYMOUS) <= set(served), "the allow-list names only routes that exist"
    mounts = {getattr(r, "path", "") for r in _app(client).routes if type(r).__name__ == "Mount"}
    assert mounts == STATIC_MOUNTS


def test_no_interactive_api_pages_and_qr_needs_a_device(app_client: tuple[TestClient, Daemon]) -> None:
    from tests.support.inproc import device_headers

    client, daemon = app_client
    for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(page).status_code == 404
    assert client.get("/openapi.json").json()["info"]["title"] == "retail-edge"
    assert client.post("/api/ui/qr.svg", json={"text": "PASS-1"}).status_code == 401
    kiosk = device_headers(daemon, "kiosk-qr", "kiosk")
    svg = client.post("/api/ui/qr.svg", json={"text": "PASS-1"}, headers=kiosk)  # the kiosk's paid screen
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
