"""The HTTP side of the simulators: a threading server on 127.0.0.1 that can hold an answer back.

Holding is how the "timeout" behaviour works: the gateway has done the work, but the answer
arrives after the client has given up. A stop wakes every held answer so nothing lingers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Answer:
    """An HTTP answer; `hold` delays it (the "timeout" behaviour: the client gives up first)."""

    status: int
    content_type: str
    body: bytes
    hold: float = 0.0


def json_answer(obj: Any, status: int = 200) -> Answer:
    return Answer(status, "application/json; charset=utf-8", json.dumps(obj, ensure_ascii=False).encode())


HTML_500 = Answer(
    500,
    "text/html; charset=utf-8",
    b"<html><head><title>500 Internal Server Error</title></head>"
    b"<body><h1>500 Internal Server Error</h1><hr>gateway simulator</body></html>",
)

# (method, path, query string, body, Content-Type) -> the answer
Dispatch = Callable[[str, str, str, bytes, str], Answer]


class _Handler(BaseHTTPRequestHandler):
    """Reads the request, lets the simulator decide, sends the answer (possibly after holding it)."""

    server: GatewayServer
    server_version = "GatewaySimulator/1.0"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        try:
            answer = server.dispatch(method, parts.path, parts.query, body, self.headers.get("Content-Type", ""))
        except Exception as exc:  # a simulator bug must show as a 500, not a hung client
            server.count("internal_errors")
            answer = Answer(500, "text/plain; charset=utf-8", f"simulator error: {exc!r}".encode())
        if answer.hold and server.stopping.wait(answer.hold):
            return  # stopped while holding: the connection just closes
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            server.count("answers_undelivered")  # the client gave up first (the point of "timeout")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a benchmark makes thousands of calls."""


class GatewayServer(ThreadingHTTPServer):
    """Listens on a free port of 127.0.0.1 and hands every request to `dispatch`."""

    daemon_threads = True
    block_on_close = False  # a held "timeout" answer must not delay stop()
    request_queue_size = 256  # 20 kiosks connecting at once must not meet a full backlog

    def __init__(self, dispatch: Dispatch, stopping: threading.Event, count: Callable[[str], None]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.dispatch, self.stopping, self.count = dispatch, stopping, count

    @property
    def port(self) -> int:
        return int(self.server_address[1])
