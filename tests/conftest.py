"""Shared fixtures. Services are real; nothing here mocks a broker, a database or a model.

With CI=true a missing model, data file or service fails the run instead of skipping: use
`shared_path()` for anything under ../shared.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import ROOT, SHARED, DaemonProcess, Mosquitto

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def shared_path(rel: str) -> Path:
    """A file from ../shared; missing is a failure (CI) because the tests need real data."""
    path = SHARED / rel
    if not path.exists():
        pytest.fail(f"required shared file {path} is missing (see shared/models/MODELS.md, shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[type[DaemonProcess]]:
    """Make daemons with `daemon_factory(data_dir, config=..., env=...)`; all are stopped at the end."""
    made: list[DaemonProcess] = []

    class Factory(DaemonProcess):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            made.append(self)

    try:
        yield Factory
    finally:
        for d in made:
            d.stop()


@pytest.fixture
def daemon(tmp_path: Path, daemon_factory: type[DaemonProcess]) -> DaemonProcess:
    """A running daemon with no broker reachable and no cameras."""
    d = daemon_factory(tmp_path / "data", env={"RETAIL_EDGE_MQTT__URL": "mqtt://127.0.0.1:9"})
    d.start()
    return d


@pytest.fixture
def app_client(tmp_path: Path):  # type: ignore[no-untyped-def]
    """(TestClient, Daemon) of the real app on a temp data dir, no broker."""
    from tests.support.inproc import running_app

    with running_app(tmp_path / "data") as pair:
        yield pair


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fast unit tests first, browser tests last (Playwright's loop stays up for the session)."""
    order = {"unit": 0, "integration": 1, "e2e": 2}

    def rank(item: pytest.Item) -> int:
        parts = Path(str(item.fspath)).parts
        return next((order[p] for p in parts if p in order), 1)

    items.sort(key=rank)
