"""Keys from the cloud: the chain's and this store's rings, sealed to this box, installed locally.

The box has an X25519 identity key (a 0600 secret made on first start; its private half never
leaves the box). It registers the public half with the cloud, then fetches its rings: each key
arrives sealed to that public key (cloud/keys.py) and is opened here and written into the ring
files every signer reads (`KeyRing.install`), so a rotation reaches running signers within one
`sync.keys_interval_s`. A key the cloud stops delivering (retired) is dropped; the box's own
keys stay and still verify what it signed before it joined the chain. When the cloud cannot be
reached the box keeps the rings it has: passes and codes keep working, rotations wait.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from edge.platform.security import SecretStore, b64d, b64e
from edge.platform.timeutil import utcnow
from edge.platform.worker import Worker
from edge.sync.settings import SyncSettings

log = logging.getLogger(__name__)

INFO = b"retail-edge key delivery v1"  # the same label the cloud seals with
PURPOSES = frozenset({"member", "coupon", "lookup", "guide", "exit_pass", "room_code", "peer"})
DELIVERED_KID = re.compile(r"^c[0-9]{1,8}$")  # cloud key ids never clash with a box's own (k1, k2, ...)


class KeyFetchError(Exception):
    pass


class KeyDelivery:
    """Registers this box's public key and installs the rings the cloud seals to it."""

    def __init__(self, secrets: SecretStore, settings: SyncSettings, box: str, token: Callable[[], str | None]):
        self.secrets = secrets
        self.settings = settings
        self.box = box
        self.token = token
        self.http = httpx.Client(
            base_url=(settings.url or "").rstrip("/"),
            timeout=httpx.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s),
            verify=str(settings.ca_file) if settings.ca_file else True,
        )
        self.last: dict[str, Any] = {"installed": {}, "fetched_at": None, "error": "not fetched yet"}
        self.worker = Worker("sync-keys", self._run)

    def _identity(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(b64d(self.secrets.get_or_create("box_x25519")))

    def public_key(self) -> bytes:
        return self._identity().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 3.0) -> None:
        self.worker.stop(timeout)
        self.http.close()

    def _run(self, w: Worker) -> None:
        while not w.stopping:
            try:
                self.fetch()
            except KeyFetchError as exc:
                self.last["error"] = str(exc)
                log.warning("key delivery: %s; the box keeps the keys it has", exc)
            except Exception as exc:  # the thread must survive anything; the reason is shown
                log.exception("key delivery failed")
                self.last["error"] = f"key delivery error: {type(exc).__name__}"
            w.wait(self.settings.keys_interval_s)

    def fetch(self) -> dict[str, str]:
        """Register, fetch and install; returns each ring's active key id. Raises KeyFetchError."""
        token = self.token()
        if not token:
            raise KeyFetchError("the sync_token secret is not set")
        auth = {"Authorization": f"Bearer {token}"}
        try:
            reg = self.http.put(f"/v1/boxes/{self.box}/key", json={"public_key": b64e(self.public_key())}, headers=auth)
            if reg.status_code != 204:
                raise KeyFetchError(f"the cloud answered {reg.status_code} to this box's key registration")
            resp = self.http.get(f"/v1/boxes/{self.box}/keys", headers=auth)
            if resp.status_code != 200:
                raise KeyFetchError(f"the cloud answered {resp.status_code} to the key fetch")
            rings = resp.json()["rings"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise KeyFetchError(f"keys unreadable or cloud unreachable: {type(exc).__name__}") from None
        installed = self._install(rings)
        self.last = {"installed": installed, "fetched_at": utcnow(), "error": ""}
        return installed

    def _install(self, rings: Any) -> dict[str, str]:
        """Open every ring first and install only if all opened: a bad answer changes nothing."""
        if not isinstance(rings, dict):
            raise KeyFetchError("the key answer has no rings")
        opened: dict[str, tuple[str, dict[str, bytes]]] = {}
        identity = self._identity()
        for purpose, ring in rings.items():
            if purpose not in PURPOSES or not isinstance(ring, dict) or not isinstance(ring.get("keys"), dict):
                raise KeyFetchError(f"the key answer has an unexpected ring {str(purpose)[:40]!r}")
            keys = {kid: self._open(identity, purpose, kid, sealed) for kid, sealed in ring["keys"].items()}
            active = ring.get("active")
            if not isinstance(active, str) or active not in keys:
                raise KeyFetchError(f"the {purpose} ring's active key was not delivered")
            opened[purpose] = (active, keys)
        changed = [p for p, (active, keys) in opened.items() if self.secrets.keyring(p).install(active, keys)]
        if changed:
            log.info("key delivery: installed %s", ", ".join(sorted(changed)))
        return {p: active for p, (active, _) in opened.items()}

    def _open(self, identity: X25519PrivateKey, purpose: str, kid: Any, sealed: Any) -> bytes:
        if not isinstance(kid, str) or not DELIVERED_KID.match(kid) or not isinstance(sealed, str):
            raise KeyFetchError(f"the {purpose} ring has a malformed key")
        try:
            blob = b64d(sealed)
            eph_public, nonce, body = blob[:32], blob[32:44], blob[44:]
            box_public = self.public_key()
            shared = identity.exchange(X25519PublicKey.from_public_bytes(eph_public))
            key = HKDF(hashes.SHA256(), 32, salt=None, info=INFO + eph_public + box_public).derive(shared)
            raw = AESGCM(key).decrypt(nonce, body, f"{self.box}.{purpose}.{kid}".encode())
        except (ValueError, InvalidTag) as exc:
            raise KeyFetchError(f"the {purpose} key {kid} does not open with this box's key") from exc
        if len(raw) != 32:
            raise KeyFetchError(f"the {purpose} key {kid} is not 32 bytes")
        return raw

    def status(self) -> dict[str, Any]:
        return dict(self.last)
