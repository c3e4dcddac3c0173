"""The demo store's cloud: the reference receiver on the local PostgreSQL, if there is one.

Used by `retail-edge demo` so the dashboard shows real sync. Without PostgreSQL (or psycopg)
the demo runs with sync degraded, which is also what a store with no cloud configured sees.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from edge.platform.security import SecretStore

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
RECEIVER = ROOT / "scripts" / "cloud_receiver.py"
DEMO_DB = "retail_edge_demo_cloud"


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_demo_receiver(
    data_dir: Path, store_id: str, port: int = 8700, admin_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
) -> str | None:
    """Start the receiver for the demo store and provision its token; returns the sync URL or None."""
    url = f"http://127.0.0.1:{port}"
    token = SecretStore(data_dir).get_or_create("sync_token")
    if not RECEIVER.exists():
        log.warning("scripts/cloud_receiver.py not found; sync runs degraded")
        return None
    if _port_open(port):  # another demo's cloud, perhaps: leave it (and its database) alone
        log.warning("port %s is taken; sync runs degraded", port)
        return None
    # The demo cloud belongs to this demo's data: a new data dir (a new master key) starts a new
    # cloud, since keys sealed under another master key could not be opened.
    fresh = SecretStore(data_dir).get("demo_cloud_master_key") is None
    try:
        import psycopg

        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=3) as conn:
            if fresh:
                conn.execute(f'DROP DATABASE IF EXISTS "{DEMO_DB}" WITH (FORCE)')
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DEMO_DB,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DEMO_DB}"')
    except Exception as exc:  # no driver, no server: the demo still runs, sync shows degraded
        log.warning("no PostgreSQL for the demo cloud (%s); sync runs degraded", str(exc).strip()[:120])
        return None
    # The demo cloud's key-delivery master key: a real cloud keeps it in its own secret manager;
    # the demo keeps it beside the box's secrets so that the keys it sealed survive a restart.
    master = SecretStore(data_dir).get_or_create("demo_cloud_master_key")
    admin = SecretStore(data_dir).get_or_create("demo_cloud_admin_token")
    env = dict(os.environ, CLOUD_RECEIVER_TOKENS=f"{store_id}={token}", CLOUD_RECEIVER_MASTER_KEY=master,
               CLOUD_RECEIVER_ADMIN_TOKEN=admin)  # fmt: skip
    dsn = admin_dsn.rpartition("/")[0] + "/" + DEMO_DB
    with (data_dir / "cloud-receiver.log").open("ab") as receiver_log:  # the child keeps its own handle
        proc = subprocess.Popen(
            [sys.executable, str(RECEIVER), "--dsn", dsn, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=receiver_log,
        )
    atexit.register(proc.terminate)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        if _port_open(port):
            return url
        time.sleep(0.2)
    log.warning("the demo cloud receiver did not start (see cloud-receiver.log); sync runs degraded")
    return None


WELCOME = {"campaign": "demo-welcome", "kind": "percent", "value": 10, "min_spend_minor": 3000,
           "name": "Welcome 10% (member wallet)", "valid_days": 365}  # fmt: skip


def publish_demo_members(url: str, data_dir: Path, store_id: str, members: list[dict[str, str]]) -> str:
    """The demo members become the chain's (the cloud owns them) and get a welcome coupon in their
    wallet, which applies by itself once a member code is scanned; returns a line for the banner."""
    import httpx

    headers = {"Authorization": f"Bearer {SecretStore(data_dir).get_or_create('demo_cloud_admin_token')}"}
    body = {"members": [{"id": m["id"], "name": m["name"], "phone": m["phone"], "home_store": store_id}
                        for m in members]}  # fmt: skip
    try:
        r = httpx.put(f"{url}/v1/admin/members", json=body, headers=headers, timeout=30)
        r.raise_for_status()
        r = httpx.post(f"{url}/v1/admin/campaigns", json=WELCOME, headers=headers, timeout=30)
        r.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("the demo cloud did not take the members (%s); no wallet coupons", exc)
        return "not set up (the demo cloud did not answer)"
    return f"{WELCOME['name']}, from 30.00, in every demo member's wallet (attach the member QR, not the phone)"
