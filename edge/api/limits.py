"""A cap on request bodies, enforced before FastAPI reads (or spools to disk) anything.

FastAPI reads and parses a whole body before its auth dependencies run, so without this an
anonymous client could fill memory or the disk that holds the store's sales. The cap is per
path prefix (face images need more room than a cart edit) and is enforced on the declared
Content-Length and again on the bytes actually received (chunked bodies).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_LIMIT = 256 * 1024


class BodyLimit:
    """Pure ASGI middleware: 413 with a typed error when a body is larger than its route allows."""

    def __init__(self, app: ASGIApp, default: int = DEFAULT_LIMIT, prefixes: dict[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        # longest prefix wins
        self.prefixes = sorted((prefixes or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        return next((n for prefix, n in self.prefixes if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(send, limit)
            return
        received = 0
        refused = False

        async def limited_receive() -> Message:
            # Raising here would be turned into a 400 by FastAPI's body parser, so answer 413
            # ourselves and tell the app the client has gone.
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not refused:
                        refused = True
                        await self._refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:  # after our 413, whatever the app answers is dropped
                await send(message)

        await self.app(scope, limited_receive, guarded_send)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "body_too_large",
                    "message": f"the request body is larger than this endpoint accepts ({limit} bytes)",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
