"""A property-based fuzzer over the daemon's own OpenAPI, against the real daemon process.

Schemathesis generates requests for every operation from `/openapi.json`, valid ones and invalid
ones, and sends them as each kind of caller a store has: anonymous (a phone, a stranger), a kiosk,
a guide's handheld and store IT. Some cases reuse ids that exist (an open cart and its line, a
fitting room's door code), so requests get past "not found" into the code behind it. A response
fails the run when it is a 5xx, when its status is neither a declared success nor an error status
the API uses, when its content type is not one the document declares, when its body breaks the
declared schema, or when an invalid request is accepted. The budget (`RETAIL_EDGE_FUZZ_EXAMPLES`
cases per operation and identity, 15 by default) keeps the run near a minute; the seed is fixed
so a failure reproduces, and `RETAIL_EDGE_FUZZ_SEED` explores further.

The four server-sent-event streams are left out: they answer 200 and then stream until the
client leaves, which a request/response fuzzer cannot judge; their auth and ids are tested in the
domains' own tests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)

from edge.access.service import AccessService
from edge.app import prepare_storage
from edge.checkout.catalog import import_products
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from edge.platform.security import SecretStore, Signer
from tests.conftest import shared_path
from tests.support.inproc import STAFF_PASSWORD, room_codes, settings_for
from tests.support.services import DaemonProcess, Mosquitto
from tests.support.waits import wait_for

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("RETAIL_EDGE_FUZZ_EXAMPLES", "15"))
SEED = int(os.environ.get("RETAIL_EDGE_FUZZ_SEED", "20261203"))
# Every error answers with the one error body, which the document declares as each operation's
# `default` response; schemathesis's status check lets any status through `default`, so this
# keeps one of its own: a declared success, or one of the error statuses the API uses.
ERROR_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 429, 431})


@schemathesis.check
def known_status(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    declared = {int(code) for code in case.operation.responses.status_codes if str(code).isdigit()}
    if response.status_code not in declared | ERROR_STATUSES:
        raise AssertionError(f"status {response.status_code}: neither a declared success nor an error the API uses")


CHECKS = [
    not_a_server_error,
    known_status,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
ROOMS = [{"id": "room-1", "name": "Room 1", "zone": "women"}, {"id": "room-2", "zone": "men"}]
IDENTITIES = ("anonymous", "kiosk", "guide", "staff")


@dataclass
class Live:
    daemon: DaemonProcess
    spec: dict[str, Any]
    headers: dict[str, dict[str, str]]
    known: dict[str, str] = field(default_factory=dict)

    def login(self, username: str) -> dict[str, str]:
        r = httpx.post(self.daemon.url + "/api/auth/login", json={"username": username, "password": STAFF_PASSWORD})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def headers_for(self, identity: str, path: str) -> dict[str, str]:
        """Staff's logout is sent by a user of its own: it ends every session of its user."""
        return self.headers["staff-logout" if identity == "staff" and path == "/api/auth/logout" else identity]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = Path(tmp_path_factory.mktemp("fuzz"))
    broker = Mosquitto(root / "mosquitto")
    broker.start()
    overrides = {"fitting": {"rooms": ROOMS}}
    d = DaemonProcess(
        root / "data",
        config=overrides,
        env={"RETAIL_EDGE_MQTT__URL": broker.url, "RETAIL_EDGE_MODEL_DIR": str(shared_path("models"))},
    )
    db = prepare_storage(settings_for(d.data_dir))
    assert not import_products(db, demo_rows("CNY")).refused
    access = AccessService(db, Signer("session", SecretStore(d.data_dir).keyring("session")))
    devices = {role: access.add_device(f"fuzz-{role}", role) for role in ("kiosk", "guide")}
    access.add_user("it-fuzz", STAFF_PASSWORD)
    access.add_user("it-fuzz-out", STAFF_PASSWORD)
    db.dispose()
    d.start()
    try:
        spec = httpx.get(d.url + "/openapi.json").json()
        headers: dict[str, dict[str, str]] = {"anonymous": {}}
        headers |= {role: {"Authorization": f"Bearer {token}"} for role, token in devices.items()}
        live = Live(d, spec, headers)
        wait_for(lambda: httpx.get(d.url + "/readyz").json()["components"]["models"]["status"], 60,
                 "the face models", until=lambda s: s == "ok")  # fmt: skip
        headers |= {"staff": live.login("it-fuzz"), "staff-logout": live.login("it-fuzz-out")}
        cart = httpx.post(d.url + "/api/kiosk/sessions", headers=headers["kiosk"], json={}).json()
        added = httpx.post(
            f"{d.url}/api/kiosk/sessions/{cart['session_id']}/items",
            headers=headers["kiosk"],
            json={"code": GROCERY[0][0]},
        ).json()
        live.known = {
            "session_id": cart["session_id"],
            "line_id": str(added["cart"]["lines"][0]["line_id"]),
            "token": room_codes(settings_for(d.data_dir, overrides), d.data_dir).token("room-1"),
        }
        yield live
    finally:
        d.stop()
        broker.stop()


def _streams(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if "text/event-stream" in op.get("responses", {}).get("200", {}).get("content", {})
    }


def _cases(op: Any, known: dict[str, str]) -> st.SearchStrategy[Any]:
    """Valid and invalid cases, and, where every path id is one we hold, the same at a real id."""
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    options = [op.as_strategy(generation_mode=m) for m in modes]
    names = re.findall(r"{(\w+)}", op.path)
    if names and all(n in known for n in names):
        ids = {n: known[n] for n in names}
        options += [op.as_strategy(generation_mode=m, path_parameters=ids) for m in modes]
    return st.one_of(options)


def _fuzz(live: Live, identity: str, op: Any, failures: list[str]) -> int:
    """Send this operation's cases as `identity`; collect what fails; return how many were sent."""
    label = f"{identity} {op.method.upper()} {op.path}"
    sent = 0

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(op, live.known))
    def run(case: Any) -> None:
        nonlocal sent
        headers = live.headers_for(identity, op.path)
        response = case.call(base_url=live.daemon.url, headers=headers, timeout=30)
        sent += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # every failure is collected and reported together
            failures.append(f"{label}: {str(exc)[:1500]}")

    run()
    return sent


@pytest.mark.parametrize("identity", IDENTITIES)
def test_no_request_gets_a_5xx_or_breaks_the_documented_schema(live: Live, identity: str) -> None:
    schema = schemathesis.openapi.from_dict(live.spec)
    skip = _streams(live.spec)
    failures: list[str] = []
    sent = 0
    for path, ops in live.spec["paths"].items():
        for method in ops:
            if (method.upper(), path) not in skip:
                sent += _fuzz(live, identity, schema[path][method.upper()], failures)
    assert live.daemon.proc is not None and live.daemon.proc.poll() is None, "the daemon died under the fuzzer"
    assert sent >= EXAMPLES * 20, f"only {sent} requests were sent"
    assert not failures, f"{len(failures)} of {sent} responses failed:\n\n" + "\n\n".join(failures[:15])
