"""Cross-site request forgery: a state-changing request from a browser must come from this box's
own pages.

The session cookie is SameSite=Strict, but "site" ignores the port: a page served on another
port of the same host is same-site, and it approved an ID check with a body-less POST. So every
POST, PUT, PATCH and DELETE whose `Origin` names another origin (scheme, host and port) is
refused with 403 `cross_origin_refused`, and one that rides on the session cookie with no
`Origin` at all (a browser always sends it on these methods) with 403 `origin_required`.
Devices and scripts authenticate with a bearer token and send no cookie: they are not affected.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from edge.api.limits import ASGIApp, Receive, Scope, Send
from edge.platform.web import SESSION_COOKIE

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _refusal(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class SameOrigin:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in UNSAFE:
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers") or []}
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1").lower()
        problem = None
        if origin:
            parts = urlsplit(origin)
            own_scheme = scope.get("scheme", "http")
            if origin == "null" or parts.netloc.lower() != host or parts.scheme != own_scheme:
                problem = ("cross_origin_refused", "this request came from another site's page; use the store's pages")
        elif f"{SESSION_COOKIE}=".encode() in headers.get(b"cookie", b"") and b"authorization" not in headers:
            problem = ("origin_required", "a browser request that changes something must say where it comes from")
        if problem is None:
            await self.app(scope, receive, send)
            return
        body = _refusal(*problem)
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
