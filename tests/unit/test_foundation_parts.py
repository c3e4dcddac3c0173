"""Bus, ids, signed tokens and sealing: the parts every domain builds on."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from cryptography.exceptions import InvalidTag

from edge.bus import Bus, Event
from edge.platform.codes import Codes, PassRefusal
from edge.platform.ids import uuid7
from edge.platform.observability import escape_text
from edge.platform.security import Sealer, SecretStore, Signer, TokenError, mask_secrets


@dataclass(frozen=True, kw_only=True)
class Ping(Event):
    n: int


@dataclass(frozen=True, kw_only=True)
class Other(Event):
    text: str


def test_uuid7_is_time_ordered_and_unique() -> None:
    ids = [uuid7() for _ in range(20000)]
    assert len(set(ids)) == len(ids)
    assert [str(i) for i in ids] == sorted(str(i) for i in ids)
    assert all(i.version == 7 for i in ids[:10])


def test_bus_delivers_typed_events_from_threads_and_survives_bad_handlers() -> None:
    got: list[int] = []
    everything: list[str] = []

    async def main() -> None:
        bus = Bus()
        bus.bind(asyncio.get_running_loop())

        def boom(_e: Ping) -> None:
            raise RuntimeError("handler bug")

        bus.subscribe(Ping, boom)
        bus.subscribe(Ping, lambda e: got.append(e.n))
        bus.subscribe(Event, lambda e: everything.append(type(e).__name__))
        threads = [threading.Thread(target=lambda i=i: bus.publish(Ping(n=i))) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        bus.publish(Other(text="x"))
        # The threads' events reached the loop with call_soon_threadsafe, which runs callbacks in
        # the order they came: once a callback handed over after them has run, all are dispatched.
        flushed = asyncio.Event()
        asyncio.get_running_loop().call_soon_threadsafe(flushed.set)
        await asyncio.wait_for(flushed.wait(), 10)

    asyncio.run(main())
    assert sorted(got) == list(range(50))
    assert everything.count("Ping") == 50 and everything.count("Other") == 1


def test_bus_stream_drops_oldest_for_slow_readers() -> None:
    async def main() -> list[int]:
        bus = Bus()
        bus.bind(asyncio.get_running_loop())
        # Bus.stream is an async generator function (annotated as a plain AsyncIterator of Event);
        # subscribed to Ping alone, it yields only Pings.
        stream = cast(AsyncGenerator[Ping, None], bus.stream(Ping, maxsize=3))
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)  # no time passes: one turn of the loop runs `first` up to its subscribe
        for i in range(10):
            bus.publish(Ping(n=i))
        out = [(await first).n]
        for _ in range(2):
            out.append((await asyncio.wait_for(stream.__anext__(), 1)).n)
        await stream.aclose()
        return out

    assert asyncio.run(main()) == [7, 8, 9]  # the newest three; the publisher never blocked


def test_signed_tokens_refuse_tamper_expiry_other_purpose_and_rotated_keys(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    passes = Signer("exit_pass", store.keyring("exit_pass"))
    rooms = Signer("room_code", store.keyring("room_code"))
    token = passes.sign({"order": "o1"}, ttl_s=60)
    assert passes.verify(token)["order"] == "o1"
    kid, body, mac = token.split(".")
    flipped = body[:5] + ("A" if body[5] != "A" else "B") + body[6:]  # still canonical base64: a forgery
    with pytest.raises(TokenError) as e:
        passes.verify(f"{kid}.{flipped}.{mac}")
    assert e.value.code == "bad_signature"
    with pytest.raises(TokenError) as e:
        passes.verify(f"{kid}.{body}x.{mac}")  # not even one spelling of base64: malformed
    assert e.value.code == "malformed"
    with pytest.raises(TokenError) as e:
        passes.verify(token, now=time.time() + 61)
    assert e.value.code == "expired"
    with pytest.raises(TokenError):
        Signer("room_code", store.keyring("exit_pass")).verify(token)  # same key, other purpose
    with pytest.raises(TokenError):
        rooms.verify(token)
    for junk in ("", "a.b", "a.b.c.d", "k1.!!!.###", "x" * 5000):
        with pytest.raises(TokenError) as e:
            passes.verify(junk)
        assert e.value.code in ("malformed", "unknown_key", "bad_signature")
    ring = store.keyring("exit_pass")
    ring.rotate()
    assert Signer("exit_pass", ring).verify(token)["order"] == "o1"  # old key still verifies
    ring.retire_all_but_active()
    with pytest.raises(TokenError) as e:
        Signer("exit_pass", ring).verify(token)
    assert e.value.code == "unknown_key"


def test_an_exit_pass_shown_again_is_the_same_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reload or a replayed checkout shows the pass the shopper already has, whatever second it is:
    its expiry is the pass row's, not the clock's at the time of asking."""
    codes = Codes(SecretStore(tmp_path))
    expires = datetime(2030, 1, 1, 12, 0, 0)  # naive, as SQLite hands it back
    first = codes.pass_code("o1", "p1", expires)
    later = time.time() + 1.5  # a second boundary crossed between the two asks
    monkeypatch.setattr(time, "time", lambda: later)
    assert codes.pass_code("o1", "p1", expires) == first
    claims = codes.pass_claims(first, now=expires.replace(tzinfo=UTC).timestamp() - 1)
    assert (claims["o"], claims["p"]) == ("o1", "p1")
    with pytest.raises(PassRefusal):
        codes.pass_claims(first, now=expires.replace(tzinfo=UTC).timestamp() + 1)


def test_sealer_round_trip_and_tamper_detection(tmp_path: Path) -> None:
    sealer = Sealer(SecretStore(tmp_path).keyring("templates"))
    kid, blob = sealer.seal(b"\x01\x02template", aad=b"member-1")
    assert sealer.open(kid, blob, aad=b"member-1") == b"\x01\x02template"
    with pytest.raises(InvalidTag):
        sealer.open(kid, blob, aad=b"member-2")
    with pytest.raises(InvalidTag):
        sealer.open(kid, blob[:-1] + bytes([blob[-1] ^ 1]), aad=b"member-1")


def test_secret_from_env_wins_and_generated_files_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SecretStore(tmp_path)
    value = store.get_or_create("sync_token")
    assert (tmp_path / "secrets" / "sync_token").stat().st_mode & 0o777 == 0o600
    assert store.get_or_create("sync_token") == value
    monkeypatch.setenv("RETAIL_EDGE_SECRET_SYNC_TOKEN", "from-env")
    assert store.get("sync_token") == "from-env"


def test_masking_and_log_escaping() -> None:
    masked = mask_secrets({"mqtt": {"password": "p", "url": "mqtt://u:secret@h:1"}, "api_token": "t", "name": "n"})
    assert masked == {"mqtt": {"password": "***", "url": "mqtt://u:***@h:1"}, "api_token": "***", "name": "n"}
    line = escape_text("EAN\n<script>\x1b[31m\u2028" + "x" * 1000, limit=50)
    assert "\n" not in line and "\x1b" not in line and "\u2028" not in line
    assert "(+" in line
