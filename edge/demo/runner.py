"""`retail-edge demo`: a whole demo store on this machine, from nothing, in one command."""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import tomli_w

from edge.config import Settings, load_settings

log = logging.getLogger(__name__)

DEMO_KIOSK = "kiosk-1"
DEMO_DEVICES = (("kiosk-1", "kiosk"), ("guide-1", "guide"), ("gate-1", "gate"), ("manager-1", "manager"))


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def ensure_broker(mqtt_url: str, data_dir: Path) -> subprocess.Popen[bytes] | None:
    """Start a local mosquitto for the demo if none answers; without one the store runs degraded."""
    url = urlparse(mqtt_url)
    host, port = url.hostname or "127.0.0.1", url.port or 1883
    if _port_open(host, port):
        return None
    exe = shutil.which("mosquitto")
    if exe is None or host not in ("127.0.0.1", "localhost"):
        log.warning("no MQTT broker at %s:%s and none can be started; running degraded", host, port)
        return None
    conf = data_dir / "mosquitto-demo.conf"
    (data_dir / "mosquitto").mkdir(exist_ok=True)
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\nset_tcp_nodelay true\n"
        f"persistence_location {data_dir / 'mosquitto'}/\n"
    )
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    atexit.register(proc.terminate)
    return proc


def demo_config(data_dir: Path, host: str, port: int, mqtt_url: str, media: dict[str, Any]) -> dict[str, Any]:
    public_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return {
        "store": {"id": "demo-store", "name": "Demo Store", "timezone": "Asia/Shanghai", "currency": "CNY"},
        "http": {"host": host, "port": port, "public_url": f"http://{public_host}:{port}"},
        "storage": {"data_dir": str(data_dir)},
        "mqtt": {"url": mqtt_url},
        "cameras": media.get("cameras", []),
        "fitting": {
            "rooms": [
                {"id": "room-1", "name": "Room 1", "zone": "women"},
                {"id": "room-2", "name": "Room 2", "zone": "women"},
                {"id": "room-3", "name": "Room 3", "zone": "men"},
            ]
        },
    }


def _credentials(settings: Settings) -> dict[str, Any]:
    """Demo login and device tokens, made once and kept 0600 in the data dir."""
    from edge.app import prepare_storage
    from edge.platform.security import SecretStore, Signer

    path = settings.storage.data_dir / "demo-credentials.json"
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    from edge.access.service import AccessService

    db = prepare_storage(settings)
    access = AccessService(db, Signer("session", SecretStore(settings.storage.data_dir).keyring("session")))
    password = secrets.token_urlsafe(12)
    access.add_user("admin", password)
    devices = {dev_id: access.add_device(dev_id, role, name=f"demo {role}") for dev_id, role in DEMO_DEVICES}
    creds: dict[str, Any] = {"admin_user": "admin", "admin_password": password, "devices": devices}
    db.dispose()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh, indent=2)
    return creds


def run_demo(data_dir: Path, host: str, port: int, mqtt_url: str, say: Callable[[str], None]) -> int:
    """Prepare the demo store, tell the user where it is (`say`, the CLI's output), then serve."""
    from edge.app import run_daemon
    from edge.demo.media import ensure_media
    from edge.demo.people import face_camera
    from edge.demo.seed import seed_demo_store

    data_dir.mkdir(parents=True, exist_ok=True)
    media = ensure_media(data_dir / "media")
    face_cam = face_camera(data_dir)
    if face_cam is not None:
        media = {**media, "cameras": [*media.get("cameras", []), face_cam]}
    config = demo_config(data_dir, host, port, mqtt_url, media)
    # The demo's cloud: the reference receiver on a local PostgreSQL, when there is one.
    from edge.demo.cloud import start_demo_receiver

    sync_url = start_demo_receiver(data_dir, config["store"]["id"])
    if sync_url:
        config["sync"] = {"url": sync_url, "downsync_interval_s": 30}
    # The demo's payment gateways: both simulators, so wallet codes go through the real rails' code.
    from edge.demo.gateways import start_demo_gateways

    rails = start_demo_gateways(data_dir, config["http"]["public_url"])
    if rails:
        config["checkout"] = {"qr_acquirer": "rails", "rails": rails}
    cfg_path = data_dir / "demo.toml"
    cfg_path.write_text(tomli_w.dumps(config))
    settings = load_settings(cfg_path)
    creds = _credentials(settings)
    info = seed_demo_store(settings)
    if sync_url:  # the demo members become the chain's, with a wallet coupon each
        from edge.demo.cloud import publish_demo_members

        members = info.get("people", {}).get("members", [])
        info["wallet"] = publish_demo_members(sync_url, data_dir, settings.store.id, members)
    ensure_broker(mqtt_url, data_dir)
    say(banner(settings, creds, info, bool(rails), cfg_path))
    return run_daemon(settings)


def banner(settings: Settings, creds: dict[str, Any], info: dict[str, Any], rails: bool, cfg_path: Path) -> str:
    """Every page, token and demo code, each with what it is for."""
    base = settings.http.public_url or f"http://127.0.0.1:{settings.http.port}"
    dev = creds["devices"]
    lines = [
        "",
        "retail-edge demo store",
        f"  kiosk page:        {base}/kiosk          (kiosk-1's device token: {dev[DEMO_KIOSK]})",
        f"  staff handheld:    {base}/guide          (guide-1's token: {dev['guide-1']})",
        f"                                            (manager-1's token: {dev['manager-1']})",
        f"  exit gate screen:  {base}/gate           (gate-1's token: {dev['gate-1']})",
        f"  dashboard:         {base}/dashboard      (store IT: admin / {creds['admin_password']})",
    ]
    for url in info.get("room_urls", []):
        lines.append(f"  fitting-room page: {url}")
    lines.append(f"  scan-and-go phone: {info['entry_url']}   (today's entrance QR, for a phone on this network)")
    people = info.get("people", {})
    for m in people.get("members", []):
        lines.append(f"  member:            {m['name']}, phone {m['phone']}, member QR {m['svg']}")
    codes = cfg_path.parent / "demo-people.json"
    for c in people.get("coupons", []):
        lines.append(f"  coupon:            {c['name']}, QR {c['svg']} (its code to paste: {codes})")
    lines.append(f"  face-pay:          {people.get('face', 'not set up')}")
    lines.append(f"  member wallets:    {info.get('wallet', 'not set up (no demo cloud)')}")
    if rails:
        lines.append(
            "  wallet payments:   simulated WeChat Pay and Alipay; at the kiosk's payment QR, type any 18 digits "
            "starting 13 (WeChat Pay) or 28 (Alipay)"
        )
    lines += [f"  health:            {base}/readyz", f"  config:            {cfg_path}", ""]
    return "\n".join(lines)
