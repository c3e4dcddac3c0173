"""Asynchronous payment notifications, delivered the way the gateways do: POST, retry unless acknowledged.

The real gateways retry for hours; the simulators retry a few times quickly so that a test sees the
whole story (sent, refused, retried, given up) in well under a second.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import ProxyHandler, Request, build_opener

_OPENER = build_opener(ProxyHandler({}))  # the box is local: a proxy from the environment must not intercept


@dataclass
class Delivery:
    """One notification's journey: every attempt's (HTTP status, body), and whether the box acknowledged.

    `copies` is how many times it is delivered (0: lost, 2: duplicated); `done` is set at the end.
    """

    url: str
    copies: int
    answers: list[tuple[int, str]] = field(default_factory=list)
    acknowledged: bool = False
    done: threading.Event = field(default_factory=threading.Event)


def post(url: str, body: bytes, content_type: str, timeout: float) -> tuple[int, str]:
    """POST and return (status, text); status 0 means no HTTP answer at all (refused, timed out)."""
    if urlsplit(url).scheme not in ("http", "https"):
        return 0, f"unsupported notify_url {url!r}"
    request = Request(url, data=body, headers={"Content-Type": content_type}, method="POST")  # noqa: S310
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return int(response.status), response.read().decode("utf-8", "replace")
    except HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (URLError, OSError) as exc:
        return 0, f"{type(exc).__name__}: {exc}"


class Notifier:
    """Sends notifications on background threads and counts what happened to them."""

    def __init__(self, acknowledged: Callable[[int, str], bool], stopping: threading.Event) -> None:
        self.retries = 3
        self.retry_interval = 0.2
        self.timeout = 5.0
        self._acknowledged = acknowledged
        self._stopping = stopping
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._last: tuple[str, bytes, str] | None = None

    def counts(self) -> dict[str, int]:
        with self._lock:
            base = dict.fromkeys(
                (
                    "notifications_sent",
                    "notifications_acknowledged",
                    "notifications_unacknowledged",
                    "notifications_lost",
                    "notifications_forged",
                    "notifications_replayed",
                ),
                0,
            )
            base.update(self._counts)
            return base

    def _count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def send(self, url: str, body: bytes, content_type: str, copies: int = 1) -> Delivery:
        """Deliver `copies` times in the background, each retried until acknowledged or out of retries."""
        delivery = Delivery(url, copies)
        if copies == 0 or not url:
            self._count("notifications_lost" if url else "notifications_without_url")
            delivery.done.set()
            return delivery
        with self._lock:
            self._last = (url, body, content_type)
        threading.Thread(
            target=self._deliver, args=(delivery, body, content_type), name="gateway-notify", daemon=True
        ).start()
        return delivery

    def _deliver(self, delivery: Delivery, body: bytes, content_type: str) -> None:
        try:
            for _copy in range(delivery.copies):
                acknowledged = False
                for attempt in range(1 + self.retries):
                    if attempt and self._stopping.wait(self.retry_interval):
                        return
                    status, text = post(delivery.url, body, content_type, self.timeout)
                    self._count("notifications_sent")
                    delivery.answers.append((status, text))
                    if self._acknowledged(status, text):
                        acknowledged = True
                        self._count("notifications_acknowledged")
                        break
                if not acknowledged:
                    self._count("notifications_unacknowledged")
                delivery.acknowledged = delivery.acknowledged or acknowledged
        finally:
            delivery.done.set()

    def post_once(self, url: str, body: bytes, content_type: str, counter: str) -> tuple[int, str]:
        """One synchronous POST without retries (forged and replayed notifications)."""
        self._count(counter)
        return post(url, body, content_type, self.timeout)

    def replay_last(self) -> tuple[int, str]:
        with self._lock:
            last = self._last
        if last is None:
            raise LookupError("no notification has been sent yet")
        return self.post_once(*last, counter="notifications_replayed")
