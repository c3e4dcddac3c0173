"""A stand-in for the box's payment-notification endpoint, for the gateway simulator tests.

It records every POST the simulator makes and answers what the test says (a real box answers
"success" to Alipay and a SUCCESS XML to WeChat Pay once it has checked the signature).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WECHAT_ACK = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"


class NotifyReceiver:
    """Listens on 127.0.0.1; `reply(body) -> text` decides each answer (always 200)."""

    def __init__(self, reply: Callable[[bytes], str]) -> None:
        self.reply = reply
        self._lock = threading.Lock()
        self._bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver._bodies.append(body)
                text = receiver.reply(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/notify"

    def bodies(self) -> list[bytes]:
        with self._lock:
            return list(self._bodies)

    def __enter__(self) -> NotifyReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
