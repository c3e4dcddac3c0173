"""The face routes read the body themselves, after auth: capped in memory, typed refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request

from edge.facepay.models import VerifyIn
from edge.facepay.router import read_json
from edge.platform.errors import EdgeError

CHUNK = b"A" * 65_536


def request(
    chunks: list[bytes], pulled: list[int], headers: list[tuple[bytes, bytes]] | None = None, cut: bool = False
) -> Request:
    """A real Starlette request whose body arrives in chunks (no Content-Length: chunked);
    `cut`: the client goes away before the last chunk says the body is complete."""

    async def receive() -> dict[str, Any]:
        pulled.append(1)
        i = len(pulled) - 1
        if i >= len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[i], "more_body": cut or i + 1 < len(chunks)}

    scope = {"type": "http", "method": "POST", "path": "/api/face/verify", "headers": headers or []}
    return Request(scope, receive)


def test_a_body_over_the_cap_stops_being_read_and_is_refused_413() -> None:
    pulled: list[int] = []
    chunks = [b'{"images_b64": ["'] + [CHUNK] * 1000  # 65 MB if it were all read
    with pytest.raises(EdgeError) as err:
        asyncio.run(read_json(request(chunks, pulled), VerifyIn, 1_000_000))
    assert (err.value.status, err.value.code) == (413, "face_request_too_large")
    assert len(pulled) <= 1_000_000 // len(CHUNK) + 2  # stopped just past the cap


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    pulled: list[int] = []
    req = request([CHUNK], pulled, [(b"content-length", b"50000000")])
    with pytest.raises(EdgeError) as err:
        asyncio.run(read_json(req, VerifyIn, 1_000_000))
    assert err.value.code == "face_request_too_large" and pulled == []


def test_a_body_within_the_cap_is_validated_and_a_cut_body_is_typed() -> None:
    ok = asyncio.run(read_json(request([b'{"member_hint": "m-1"}'], []), VerifyIn, 1000))
    assert ok.member_hint == "m-1" and ok.images_b64 == []
    with pytest.raises(RequestValidationError):  # the app answers 422 invalid_request
        asyncio.run(read_json(request([b'{"member_hint": '], []), VerifyIn, 1000))
    with pytest.raises(EdgeError) as err:
        asyncio.run(read_json(request([b'{"member_hint": '], [], cut=True), VerifyIn, 1000))
    assert (err.value.status, err.value.code) == (400, "face_request_incomplete")
