"""The HTTP server's protocol: uvicorn's httptools protocol with a cap on a request's head.

httptools (llhttp) buffers a header value whole before handing it over, and uvicorn sets no
limit, so a 32 MiB header was accepted anonymously on /healthz. Here the request line and the
headers of one request may take at most MAX_HEAD_BYTES; past that the answer is 431 with a
typed JSON error and the connection is closed before anything is parsed further.
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024  # a browser's cookies and a bearer token fit many times over
LINGER_S = 1.0
_BODY = json.dumps(
    {"error": {"code": "headers_too_large", "message": f"request headers over {MAX_HEAD_BYTES // 1024} KiB"}}
).encode()
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_BODY)
    + _BODY
)


class BoundedHttpTools(HttpToolsProtocol):
    """Counts the bytes that arrive while a request's head is being read."""

    _head_bytes = 0
    _reading_head = True
    _heads_done = 0
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes, self._reading_head = 0, True

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._heads_done += 1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_bytes, self._reading_head = 0, True  # the next request on this connection

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._reading_head or self._head_bytes + len(data) <= MAX_HEAD_BYTES:
            self._head_bytes += len(data) if self._reading_head else 0
            super().data_received(data)
            return
        # Over the cap within this chunk: the parser gets only what the head may still take. A
        # chunk that ends the head and carries the body on (an upload) goes on being parsed.
        budget = MAX_HEAD_BYTES - self._head_bytes
        heads_before = self._heads_done
        self._head_bytes = MAX_HEAD_BYTES
        if budget > 0:
            super().data_received(data[:budget])
        if self._heads_done > heads_before:
            self.data_received(data[budget:])
            return
        self._refused = True
        self.transport.write(_431)
        # Lingering close: what is still in flight is read and dropped for a moment, so the
        # close is a FIN, not a reset that could discard the 431 before the client reads it.
        asyncio.get_running_loop().call_later(LINGER_S, self.transport.close)
