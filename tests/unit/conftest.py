"""Unit-level fixtures: real SQLite files on disk, migrated as the daemon migrates them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.platform.store import Store


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    d = Store.in_dir(tmp_path)
    d.migrate()
    yield d
    d.dispose()
