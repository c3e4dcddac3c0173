"""Stores of one chain for the tests: the real reference cloud on PostgreSQL and one in-process
daemon per store (its own SQLite file and store token), each with the demo catalog and the
chain's keys delivered from the cloud before the test starts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from cloud.harness import PostgresUnavailable, running_cloud
from edge.checkout.catalog import import_products
from edge.demo.catalog import demo_rows
from tests.support.inproc import running_app, staff_headers
from tests.support.waits import wait_for


@contextmanager
def chain_stores(root: Path, stores: dict[str, str], sync: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """{"rx": receiver, "dsn": its database, store: {"c": client, "d": daemon, "staff": headers}}.
    `sync` is each daemon's [sync] section beyond the cloud's URL."""
    try:
        with running_cloud(stores, root / "receiver.log") as (rx, dsn), ExitStack() as stack:
            boxes: dict[str, dict[str, Any]] = {}
            for store, token in stores.items():
                data = root / store
                (data / "secrets").mkdir(parents=True)
                (data / "secrets" / "sync_token").write_text(token)
                cfg = {"store": {"id": store, "timezone": "Asia/Shanghai"}, "sync": {"url": rx.url, **sync}}
                client, daemon = stack.enter_context(running_app(data, cfg))
                assert not import_products(daemon.ctx.store, demo_rows("CNY")).refused
                boxes[store] = {"c": client, "d": daemon, "staff": staff_headers(daemon)}
                for ring in ("coupon", "lookup"):
                    path = data / "secrets" / f"{ring}.keys.json"
                    wait_for(lambda p=path: json.loads(p.read_text()).get("delivered"), 30,  # type: ignore[misc]
                             f"the chain's {ring} key to reach {store}", ignore=(OSError, ValueError))  # fmt: skip
            yield {"rx": rx, "dsn": dsn, **boxes}
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
