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
    try:
        import psycopg

        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=3) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DEMO_DB,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DEMO_DB}"')
    except Exception as exc:  # no driver, no server: the demo still runs, sync shows degraded
        log.warning("no PostgreSQL for the demo cloud (%s); sync runs degraded", str(exc).strip()[:120])
        return None
    if _port_open(port):
        log.warning("port %s is taken; sync runs degraded", port)
        return None
    # The demo cloud's key-delivery master key: a real cloud keeps it in its own secret manager;
    # the demo keeps it beside the box's secrets so that the keys it sealed survive a restart.
    master = SecretStore(data_dir).get_or_create("demo_cloud_master_key")
    env = dict(os.environ, CLOUD_RECEIVER_TOKENS=f"{store_id}={token}", CLOUD_RECEIVER_MASTER_KEY=master)
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
