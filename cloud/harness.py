"""Test and bench harness: a throwaway PostgreSQL database and the receiver as a real process."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
ADMIN_DSN = os.environ.get("SYNC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


class PostgresUnavailable(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dsn_for(dbname: str) -> str:
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{dbname}"


@contextmanager
def temp_database() -> Iterator[str]:
    """CREATE DATABASE sync_<random>, yield its DSN, DROP it at the end (even on failure)."""
    name = "sync_" + secrets.token_hex(6)
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise PostgresUnavailable(
            f"PostgreSQL is unreachable at {ADMIN_DSN} ({str(exc).strip()[:200]}). The sync tests need a real "
            "PostgreSQL: run scripts/test.sh (it starts the local cluster) or `pg_ctlcluster 15 main start`."
        ) from exc
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _dsn_for(name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Receiver:
    """scripts/cloud_receiver.py as a child process; stop() is "connection refused" for the edge."""

    def __init__(
        self,
        dsn: str,
        tokens: dict[str, str],
        log_path: Path,
        admin_token: str = "admin-test-token",  # noqa: S107 (a test receiver)
        port: int | None = None,
    ) -> None:
        self.dsn = dsn
        self.tokens = tokens
        self.admin_token = admin_token
        self.port = port or _free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        # The key-delivery master key: one per receiver, kept across its restarts (as a real
        # deployment keeps it in its secret manager).
        self.master_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0, faults: dict[str, Any] | None = None) -> None:
        """Start (again); `faults` is in force from the first request (e.g. 500s after an outage)."""
        env = dict(os.environ)
        env["CLOUD_RECEIVER_TOKENS"] = ",".join(f"{k}={v}" for k, v in self.tokens.items())
        env["CLOUD_RECEIVER_ADMIN_TOKEN"] = self.admin_token
        env["CLOUD_RECEIVER_MASTER_KEY"] = self.master_key
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "scripts" / "cloud_receiver.py"),
                "--dsn",
                self.dsn,
                "--port",
                str(self.port),
                "--faults",
                "--faults-json",
                json.dumps(faults or {}),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("ab"),  # the child owns it
        )
        from tests.support.services import wait_healthy  # the same wait as the daemon's harness

        wait_healthy(self.url, self.proc, timeout, "receiver", self.log_tail)

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def faults(self, **config: Any) -> dict[str, Any]:
        resp = httpx.post(self.url + "/_faults", json=config, timeout=5)
        resp.raise_for_status()
        return dict(resp.json())

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(self.url + "/_faults", timeout=5).json()["stats"])

    def admin(self, method: str, path: str, body: Any, timeout: float = 120.0) -> httpx.Response:
        """An admin call (members, campaigns, erasures, keys) with this receiver's admin token."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        return httpx.request(method, self.url + path, json=body, headers=headers, timeout=timeout)

    def publish(self, kind: str, items: list[Any], store_id: str | None = None) -> int:
        resp = httpx.post(
            self.url + "/v1/admin/downsync",
            json={"kind": kind, "items": items, "store_id": store_id},
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=10,
        )
        resp.raise_for_status()
        return int(resp.json()["version"])


@contextmanager
def running_cloud(tokens: dict[str, str], log_path: Path) -> Iterator[tuple[Receiver, str]]:
    """A throwaway database and the receiver on it, stopped and dropped at the end: (receiver, dsn)."""
    with temp_database() as dsn:
        rx = Receiver(dsn, tokens, log_path)
        rx.start()
        try:
            yield rx, dsn
        finally:
            rx.stop()


def event_counts(dsn: str) -> dict[str, int]:
    """Rows, distinct event ids and applied effects in the cloud's tables."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM edge_event").fetchone()
        eff = conn.execute("SELECT coalesce(sum(events), 0) FROM edge_event_effect").fetchone()
    assert row is not None and eff is not None
    return {"rows": int(row[0]), "distinct": int(row[1]), "effects": int(eff[0])}


def stored_ids(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT event_id::text FROM edge_event")}


def out_of_order(dsn: str) -> int:
    """Events stored after a later event of their own stream (by arrival): 0 when order held."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM (SELECT seq < lag(seq) OVER (PARTITION BY store_id, stream ORDER BY ingest_id) "
            "AS back FROM edge_event) t WHERE back"
        ).fetchone()
    assert row is not None
    return int(row[0])
