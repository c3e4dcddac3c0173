"""The real app in-process (FastAPI TestClient with its lifespan), for fast API tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from edge.access.service import AccessService
from edge.app import Daemon
from edge.config import Settings, load_settings
from edge.fitting.codes import RoomCodes
from edge.platform.codes import Codes
from edge.platform.security import SecretStore

STAFF_PASSWORD = "correct horse battery"


def settings_for(data_dir: Path, overrides: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    base: dict[str, Any] = {
        "storage": {"data_dir": str(data_dir)},
        "mqtt": {"url": "mqtt://127.0.0.1:9"},
        "store": {"id": "test-store", "timezone": "Asia/Shanghai"},
        # No random exit audits (2% by default): a pass a test expects to open must not be flagged
        # by chance. A test that wants audits sets audit_share itself.
        "checkout": {"audit_share": 0.0},
    }
    for section, values in (overrides or {}).items():
        merged = isinstance(values, dict) and isinstance(base.get(section), dict)
        base[section] = {**base[section], **values} if merged else values
    return load_settings(None, overrides=base)


@contextmanager
def running_app(data_dir: Path, overrides: dict[str, Any] | None = None) -> Iterator[tuple[TestClient, Daemon]]:
    daemon = Daemon(settings_for(data_dir, overrides))
    with TestClient(daemon.create_app()) as client:
        yield client, daemon


def staff_headers(daemon: Daemon, username: str = "it-admin") -> dict[str, str]:
    access = daemon.ctx.own(AccessService)
    if username not in {u.username for u in access.list_users()}:
        access.add_user(username, STAFF_PASSWORD)
    return {"Authorization": f"Bearer {access.login(username, STAFF_PASSWORD)}"}


def device_headers(daemon: Daemon, device_id: str, role: str) -> dict[str, str]:
    access = daemon.ctx.own(AccessService)
    return {"Authorization": f"Bearer {access.add_device(device_id, role)}"}


def room_codes(settings: Settings, data_dir: Path | None = None) -> RoomCodes:
    """The room codes a daemon with these settings signs (its key rings under data_dir)."""
    secrets = SecretStore(data_dir or settings.storage.data_dir)
    return RoomCodes(settings.fitting.rooms, settings.store.id, settings.http, Codes(secrets))


def settle_bus(client: TestClient, daemon: Daemon, timeout: float = 20.0) -> None:
    """Return once every bus event published so far (from any thread) has been handled, async
    handlers included: the proof that the app processed past a point, where a test asserts that
    something did not happen.

    Events from other threads reach the loop with call_soon_threadsafe, and so does this call,
    after them: when it runs they are dispatched, and their async handlers are the bus's tasks."""
    bus = daemon.ctx.bus

    async def handled() -> None:
        while pending := [t for t in bus._tasks if not t.done()]:
            await asyncio.wait(pending)

    assert client.portal is not None, "settle_bus needs the TestClient entered (running_app does it)"
    client.portal.call(asyncio.wait_for, handled(), timeout)
