"""Scan-and-go on the phone against the real daemon process: the CLI prints the day's entry code,
and a kill -9 mid-basket loses nothing: the phone's cookie still opens the same cart."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from edge.app import prepare_storage
from edge.checkout.catalog import import_products
from edge.config import load_settings
from edge.demo.catalog import demo_rows
from edge.demo.gtins import GROCERY
from tests.support.services import DaemonProcess
from tests.support.waits import wait_for


def test_a_kill_mid_basket_keeps_the_cart_and_the_phone_finds_it_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = prepare_storage(load_settings(None, overrides={"storage": {"data_dir": str(data)}}))
    assert not import_products(db, demo_rows("CNY")).refused
    db.dispose()
    d = DaemonProcess(data, config={"mqtt": {"url": "mqtt://127.0.0.1:9"}})
    d.start()
    try:
        out = json.loads(d.cli("phone", "entry", "--json", "--base-url", d.url).stdout)
        assert out["url"].startswith(f"{d.url}/go/")
        svg = tmp_path / "entry.svg"
        d.cli("phone", "entry", "--svg", str(svg))
        assert "<svg" in svg.read_text()
        bad = d.cli("phone", "entry", "--day", "someday", check=False)
        assert bad.returncode == 2 and "not a date" in bad.stderr
        with httpx.Client(base_url=d.url, timeout=10) as phone:
            assert phone.get(out["url"].removeprefix(d.url)).status_code == 200
            sid = phone.get("/api/go/state").json()["cart"]["session_id"]
            for n, (gtin, *_rest) in enumerate(GROCERY[:3]):
                r = phone.post(f"/api/go/carts/{sid}/items", json={"code": gtin, "scan_id": f"before-kill-{n}"})
                assert r.status_code == 201, r.text
            children = wait_for(lambda: _children(d.proc), 60, "phone frames decoded in a child process")
            d.kill9()
            wait_for(lambda: not any(_alive(int(pid)) for pid in children), 10, "the frame decoder to leave with it")
            d.start()
            state = phone.get("/api/go/state").json()
            assert state["cart"]["session_id"] == sid, "the same cart, found by the phone's cookie"
            assert sorted(line["qty"] for line in state["cart"]["lines"]) == [1, 1, 1]
            # the page resends what it never heard back about: nothing doubles
            r = phone.post(f"/api/go/carts/{sid}/items", json={"code": GROCERY[2][0], "scan_id": "before-kill-2"})
            assert r.json()["added"]["source"] == "duplicate"
            assert sum(line["qty"] for line in phone.get("/api/go/state").json()["cart"]["lines"]) == 3
    finally:
        d.stop()


def _children(proc: subprocess.Popen[bytes] | None) -> list[str]:
    """A process's children; each is listed under the thread that started it."""
    assert proc is not None
    return [pid for task in Path(f"/proc/{proc.pid}/task").iterdir() for pid in (task / "children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _self_signed(secrets_dir: Path) -> None:
    """A certificate for 127.0.0.1 made now (never stored in the repo), as a store would install one."""
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "store box")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (secrets_dir / "tls_cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (secrets_dir / "tls_key.pem").write_bytes(pem)
    (secrets_dir / "tls_key.pem").chmod(0o600)


def test_https_for_phone_cameras_and_a_clear_refusal_without_a_certificate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = {"mqtt": {"url": "mqtt://127.0.0.1:9"}, "http": {"tls": True}}
    d = DaemonProcess(data, config=config)
    d.start(wait=False)
    assert d.proc is not None
    assert d.proc.wait(60) == 3, d.log_tail()
    assert "tls_cert.pem and tls_key.pem is missing" in d.log_tail()
    _self_signed(data / "secrets")
    d.start(wait=False)
    try:
        url = f"https://127.0.0.1:{d.port}"
        wait_for(lambda: _status(f"{url}/healthz"), 60, "the daemon to answer over https", until=lambda s: s == 200)
        with httpx.Client(base_url=url, verify=False, timeout=10) as phone:  # noqa: S501 (the test's own certificate)
            code = json.loads(d.cli("phone", "entry", "--json", "--base-url", url).stdout)["url"]
            r = phone.get(code.removeprefix(url))
            assert r.status_code == 200 and "secure" in r.headers["set-cookie"].lower(), "the cookie is https-only"
    finally:
        d.stop()


def _status(url: str) -> int:
    try:
        return httpx.get(url, verify=False, timeout=2).status_code  # noqa: S501 (the test's own certificate)
    except httpx.HTTPError:
        return 0
