"""What other domains may ask of the store broker connection (the registry's `messaging` slot).

Sending goes through the durable queue (`tx.mqtt(...)` in a write transaction), never here:
this is for receiving, e.g. guides' claims arriving from their handhelds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Ack = Callable[[], None]
Handler = Callable[[str, bytes, Ack], None]  # topic, payload, ack (PUBACK once safely handled)


class Messaging(Protocol):
    @property
    def connected(self) -> bool:
        """True while connected to the store broker."""

    def subscribe(self, topic: str, handler: Handler, qos: int = 1, *, deferred_ack: bool = False) -> None:
        """Route messages matching `topic` to `handler` (on the network thread: keep it quick).

        With deferred_ack the handler must call its `ack()` once the message is safely handled
        (the broker redelivers it otherwise); without, the PUBACK goes when the handler returns."""
