"""The CLI as store IT uses it: `migrate`, `users add`, `devices add`, and refusals as exit 3."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from tests.support.inproc import STAFF_PASSWORD
from tests.support.services import ROOT, DaemonProcess

NO_BROKER = {"RETAIL_EDGE_MQTT__URL": "mqtt://127.0.0.1:9"}


def test_migrate_reports_the_schema_and_refuses_a_newer_database(
    tmp_path: Path, daemon_factory: type[DaemonProcess]
) -> None:
    d = daemon_factory(tmp_path / "data", env=NO_BROKER)
    first = d.cli("migrate")
    db_path = tmp_path / "data" / "edge.db"
    assert first.stdout.startswith(f"database {db_path} is at ")
    heads = first.stdout.strip().rsplit(" is at ", 1)[1]
    assert heads and "Traceback" not in first.stderr
    assert d.cli("migrate").stdout == first.stdout  # a second run changes nothing...
    assert not (tmp_path / "data" / "backups").exists()  # ...and needs no backup

    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
    refused = d.cli("migrate", check=False)
    assert refused.returncode == 3
    assert "newer than this version of retail-edge" in refused.stderr
    assert "Traceback" not in refused.stderr

    # `run` refuses the same way, with the exit code the unit never restarts on.
    d.start(wait=False)
    assert d.proc is not None
    assert d.proc.wait(60) == 3
    d.proc = None
    assert "newer than this version" in d.log_path.read_text()
    unit = (ROOT / "systemd" / "retail-edge.service").read_text()
    prevent = [ln.split("=", 1)[1].split() for ln in unit.splitlines() if ln.startswith("RestartPreventExitStatus=")]
    assert prevent and "3" in prevent[0]
    assert "ExecStartPre=" not in unit, "a refusal in ExecStartPre would restart-loop"


def test_users_and_devices_added_by_the_cli_can_sign_in(tmp_path: Path, daemon_factory: type[DaemonProcess]) -> None:
    d = daemon_factory(tmp_path / "data", env=NO_BROKER)
    added = d.cli("users", "add", "it-night", "--password-stdin", input=STAFF_PASSWORD + "\n")
    assert added.stdout.strip() == "user it-night created"
    assert STAFF_PASSWORD not in added.stdout + added.stderr
    with sqlite3.connect(tmp_path / "data" / "edge.db") as conn:
        (stored,) = conn.execute("SELECT password_hash FROM user_account WHERE username = 'it-night'").fetchone()
    assert stored.startswith("$argon2id$")

    token = d.cli("devices", "add", "kiosk-x", "--role", "kiosk").stdout.strip()
    assert token.startswith("dev_")
    assert "kiosk-x\tkiosk\tactive" in d.cli("devices", "list").stdout
    assert token not in d.cli("devices", "list").stdout  # shown once, never again

    d.start()
    login = httpx.post(d.url + "/api/auth/login", json={"username": "it-night", "password": STAFF_PASSWORD})
    assert login.status_code == 200
    me = httpx.get(d.url + "/api/auth/me", headers={"Authorization": f"Bearer {login.json()['token']}"})
    assert me.json() == {"kind": "user", "id": "it-night", "role": "it", "leads_floor": True, "handheld": True}
    bad = httpx.post(d.url + "/api/auth/login", json={"username": "it-night", "password": "not the password"})
    assert bad.status_code == 401

    kiosk = httpx.get(d.url + "/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert kiosk.json() == {"kind": "device", "id": "kiosk-x", "role": "kiosk", "leads_floor": False, "handheld": False}
    assert d.stop() == 0
