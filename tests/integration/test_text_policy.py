"""One text policy over every input the OpenAPI declares.

Static: every text field and parameter has a length bound and a rule (an enum, a date format, a
pattern that refuses control characters, or one of the policy types of edge.platform.text, shown
as `x-text-policy`); every number has a minimum and a maximum. Live: each field with a policy is
sent hostile text on the real app, and the 422 names that field: the rule is applied at the
edge, not only declared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edge.app import Daemon
from edge.fitting.service import FittingService
from edge.platform.text import CodeStr, OpaqueStr, SafeStr, SafeText
from tests.integration.test_fitting_api import ROOMS, phone_headers
from tests.support.inproc import device_headers, running_app, staff_headers
from tests.support.phone import go_headers

POLICIES = {"line", "text", "code", "opaque"}
FORMATS = {"date-time", "date"}
# What each policy must refuse (a NUL, a terminal escape, a lone surrogate, a line break in a line).
HOSTILE = {
    "line": ["ab\x00cd", "\x1b[2Jab", "ab\ud800", "ab\ncd"],
    "text": ["ab\x00cd", "\x1b[2Jab", "ab\ud800"],
    "code": ["ab\x00cd", "4006381333931\x1b", "café", "ab\ncd"],
}
PATTERN_PROBES = ["ab\x00cd", "ab\x1bcd", "ab\u202ecd", "ab\ncd", "ab cd"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Daemon]]:
    with running_app(Path(tmp_path_factory.mktemp("policy")) / "data", {"fitting": ROOMS}) as pair:
        yield pair


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _leaves(
    spec: dict[str, Any], schema: dict[str, Any], path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """(path, schema) of every scalar under a schema; list items are marked with "[]"."""
    schema = _resolve(spec, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _leaves(spec, sub, path)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        for name, sub in schema.get("properties", {}).items():
            yield from _leaves(spec, sub, (*path, name))
        if isinstance(schema.get("additionalProperties"), dict):
            yield from _leaves(spec, schema["additionalProperties"], (*path, "*"))
    elif kind == "array":
        yield from _leaves(spec, schema.get("items", {}), (*path, "[]"))
    elif kind in ("string", "integer", "number"):
        yield path, schema


def inputs(spec: dict[str, Any]) -> Iterator[tuple[str, str, tuple[str, ...], dict[str, Any]]]:
    """(method, route, field path, schema) of every scalar input: parameters and JSON bodies."""
    for route, ops in spec["paths"].items():
        for method, op in ops.items():
            for prm in op.get("parameters", []):
                for path, schema in _leaves(spec, prm["schema"], (prm["in"], prm["name"])):
                    yield method, route, path, schema
            for media in op.get("requestBody", {}).get("content", {}).values():
                for path, schema in _leaves(spec, media["schema"], ("body",)):
                    yield method, route, path, schema


def test_every_text_input_has_a_bound_and_a_rule_and_every_number_a_range(app: tuple[TestClient, Daemon]) -> None:
    spec = app[0].get("/openapi.json").json()
    problems, texts = [], 0
    for method, route, path, schema in inputs(spec):
        where = f"{method.upper()} {route} {'.'.join(path)}"
        if schema["type"] in ("integer", "number"):
            if "minimum" not in schema or "maximum" not in schema:
                problems.append(f"{where}: a number without a minimum and a maximum")
            continue
        texts += 1
        if "enum" in schema or schema.get("format") in FORMATS:
            continue
        pattern = schema.get("pattern")
        if pattern:
            bounded = re.search(r"\{\d+,\d+\}\$$", pattern) or "maxLength" in schema
            passes = [p for p in PATTERN_PROBES if re.search(pattern, p)]
            if not bounded or passes:
                problems.append(f"{where}: pattern {pattern!r} is unbounded or lets {passes!r} through")
            continue
        if schema.get("x-text-policy") not in POLICIES:
            problems.append(f"{where}: free text without a policy (use edge.platform.text)")
        if "maxLength" not in schema:
            problems.append(f"{where}: free text without maxLength")
    assert texts > 60, "the walk found too few text inputs: has the OpenAPI changed shape?"
    assert problems == []


def _headers(client: TestClient, daemon: Daemon) -> list[dict[str, str]]:
    return [
        staff_headers(daemon),
        device_headers(daemon, "kiosk-p", "kiosk"),
        device_headers(daemon, "guide-p", "guide"),
        device_headers(daemon, "gate-p", "gate"),
        {},
    ]


def _nest(path: tuple[str, ...], value: str) -> Any:
    """{a: {b: [value]}} for ("a", "b", "[]")."""
    if not path:
        return value
    if path[0] == "[]":
        return [_nest(path[1:], value)]
    return {path[0]: _nest(path[1:], value)}


def test_every_field_with_a_policy_refuses_hostile_text_at_the_edge(app: tuple[TestClient, Daemon]) -> None:
    client, daemon = app
    spec = client.get("/openapi.json").json()
    room = daemon.ctx.own(FittingService).codes.token("room-1")
    identities = [*_headers(client, daemon), phone_headers(client, room), go_headers(client, daemon)]
    tried, missed = 0, []
    for method, route, path, schema in inputs(spec):
        policy = schema.get("x-text-policy")
        if policy not in HOSTILE:
            continue
        url = re.sub(r"\{token\}", room, re.sub(r"\{line_id\}", "1", route))
        url = re.sub(r"\{[a-z_]+\}", "x1", url)
        for bad in HOSTILE[policy]:
            tried += 1
            if path[0] == "query":
                if "\ud800" in bad:
                    continue  # a URL carries UTF-8 bytes: a lone surrogate cannot be sent there
                kwargs: dict[str, Any] = {"params": {path[1]: bad}}
            else:  # JSON escapes (\ud800) carry what UTF-8 cannot
                body = json.dumps(_nest(path[1:], bad))
                kwargs = {"content": body, "headers_extra": {"Content-Type": "application/json"}}
            field = ".".join(p if p != "[]" else "0" for p in path)
            extra = kwargs.pop("headers_extra", {})
            for headers in identities:
                r = client.request(method.upper(), url, headers={**headers, **extra}, **kwargs)
                if r.status_code not in (401, 403):
                    break
            # a lone surrogate may already be refused by the JSON parser (then the body is named)
            fields = {field, "body"} if "\ud800" in bad else {field}
            named = r.status_code == 422 and any(
                d.get("field") in fields for d in r.json().get("error", {}).get("details", [])
            )
            if not named:
                missed.append(f"{method.upper()} {route} {field} = {bad!r}: {r.status_code} {r.text[:160]}")
    assert tried > 60
    assert missed == [], "\n".join(missed)


@pytest.mark.parametrize(
    ("kind", "value", "out"),
    [
        (SafeStr, "Caf\u0065\u0301 \u202eSale", "Café Sale"),  # NFC, bidi stripped
        (SafeText, "line one\r\nline two\tend", "line one\nline two\tend"),
        (CodeStr, "(01)04006381333931\x1d10ABC", "(01)04006381333931\x1d10ABC"),  # GS1's separator kept
        (OpaqueStr, "pässwörd \x07", "pässwörd \x07"),  # compared as sent, never shown
    ],
)
def test_what_each_policy_keeps(kind: Any, value: str, out: str) -> None:
    from pydantic import TypeAdapter

    assert TypeAdapter(kind).validate_python(value) == out
