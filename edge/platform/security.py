"""Secrets, key rings with key ids, signed tokens and authenticated encryption.

Secrets never come from the TOML: each is read from RETAIL_EDGE_SECRET_<NAME> or a file under
<data_dir>/secrets (0600, directory 0700), and generated there on first start where that is safe.
Every signing purpose (exit passes, room codes, sessions, member QR, coupons) has its own key
ring, so rotating one never invalidates another, and a token of one kind is never accepted as
another.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edge.platform.files import write_atomic

SECRET_ENV_PREFIX = "RETAIL_EDGE_SECRET_"  # noqa: S105 (a prefix, not a secret)


class TokenError(Exception):
    """A token that must be refused; `code` says why (malformed, bad_signature, unknown_key, expired)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(path, data, 0o600)


@contextmanager
def _secrets_locked(directory: Path) -> Iterator[None]:
    """Hold the secrets directory's lock (flock on the directory itself, no lock file to list):
    one writer at a time among this process's threads and every other process (the daemon, the
    CLI, the demo seed). `write_atomic`'s fixed temporary name needs it too: two writers would
    write into the same `.tmp` and the second rename would find it gone."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class SecretStore:
    """Named secrets from the environment or from 0600 files under the data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "secrets"

    def get(self, name: str) -> str | None:
        env = os.environ.get(SECRET_ENV_PREFIX + name.upper())
        if env:
            return env
        path = self.dir / name
        if path.exists():
            return path.read_text().strip()
        return None

    def get_or_create(self, name: str, nbytes: int = 32) -> str:
        value = self.get(name)
        if value is None:
            with _secrets_locked(self.dir):
                value = self.get(name)  # another thread or process may have made it meanwhile
                if value is None:
                    value = b64e(secrets.token_bytes(nbytes))
                    _write_private(self.dir / name, value.encode())
        return value

    def keyring(self, purpose: str) -> KeyRing:
        return KeyRing(self.dir / f"{purpose}.keys.json")

    def names(self) -> list[str]:
        return sorted(p.name for p in self.dir.glob("*")) if self.dir.exists() else []


class RingDelivered(Exception):
    """A local rotation of a ring the cloud delivers: it would be undone at the next fetch."""


class KeyRing:
    """32-byte keys by key id; the active one signs, all known ones verify. Created on first use.

    Re-read when its file changes (one stat per use), so a rotation by the CLI, another
    process, reaches a running daemon at once. Every change (the first use's creation, a
    rotation, a retirement) is a read-modify-write under the secrets directory's lock, on the
    file as it is then: racing first uses (the daemon's components each hold a ring on the same
    file, its threads sign at once, the CLI may run meanwhile) make one key, and a rotation
    never drops another's key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._mutex = threading.Lock()  # _data and _stamp change together

    def _file_stamp(self) -> tuple[int, int, int] | None:
        """Inode, mtime and size: a replacement is a new inode even within one mtime tick."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _read(self) -> dict[str, Any]:
        """The file and its stamp from one open file, so the two always belong together."""
        with self.path.open("rb") as fh:
            st = os.fstat(fh.fileno())
            data: dict[str, Any] = json.loads(fh.read())
        self._data, self._stamp = data, (st.st_ino, st.st_mtime_ns, st.st_size)
        return data

    def _load(self) -> dict[str, Any]:
        with self._mutex:
            stamp = self._file_stamp()
            if stamp is None:  # first use: a ring with one key, made by exactly one of the racers
                return self._change(lambda data: self._add_key(data) if not data["keys"] else "")[1]
            if self._data is None or stamp != self._stamp:
                return self._read()
            return self._data

    def _change(self, change: Callable[[dict[str, Any]], Any]) -> tuple[Any, dict[str, Any]]:
        """Apply `change` to the ring as it is on disk now, and write it back, under the lock.
        The caller holds `_mutex`."""
        with _secrets_locked(self.path.parent):
            was = json.dumps(self._read() if self.path.exists() else {"active": "", "keys": {}})
            data = json.loads(was)  # a copy: readers of the cached ring never see it half-changed
            result = change(data)
            if json.dumps(data) != was:  # a racer that lost the first use writes nothing
                _write_private(self.path, json.dumps(data).encode())
                self._read()
        return result, data

    def rotate(self) -> str:
        """Add a new key and make it active; older keys still verify until retired."""
        self._refuse_if_delivered()
        with self._mutex:
            kid, _ = self._change(self._add_key)
        return str(kid)

    def _refuse_if_delivered(self) -> None:
        """A ring the cloud delivers is rotated there, for every box at once (edge/sync/keys.py)."""
        if self._file_stamp() is not None and self._load().get("delivered"):
            raise RingDelivered(
                f"the {self.path.name.split('.')[0]} keys come from the cloud: rotate or retire them there "
                "(POST /v1/admin/keys/rotate or /retire); every box of the store follows"
            )

    @staticmethod
    def _add_key(data: dict[str, Any]) -> str:
        kid = f"k{len(data['keys']) + 1}"
        while kid in data["keys"]:
            kid += "x"
        data["keys"][kid] = b64e(secrets.token_bytes(32))
        data["active"] = kid
        return kid

    def retire_all_but_active(self) -> list[str]:
        """Drop every key but the active one: tokens signed with them stop verifying."""

        def retire(data: dict[str, Any]) -> list[str]:
            if not data["keys"]:
                self._add_key(data)
            gone = [k for k in data["keys"] if k != data["active"]]
            for k in gone:
                del data["keys"][k]
            return gone

        self._refuse_if_delivered()
        with self._mutex:
            gone, _ = self._change(retire)
        return list(gone)

    def install(self, active: str, keys: dict[str, bytes]) -> bool:
        """Make the ring's delivered keys exactly `keys` with `active` signing (the cloud's key
        delivery). The box's own keys stay and verify, so what it signed alone is still honoured;
        a delivered key no longer delivered (retired at the cloud) is dropped. True if it changed."""
        if active not in keys or any(len(v) != 32 for v in keys.values()):
            raise ValueError("a delivered ring needs its active key and 32-byte keys")

        def put(data: dict[str, Any]) -> bool:
            was = json.dumps(data, sort_keys=True)
            for kid in data.get("delivered", []):
                if kid not in keys:
                    data["keys"].pop(kid, None)
            data["keys"].update({kid: b64e(raw) for kid, raw in keys.items()})
            data["delivered"], data["active"] = sorted(keys), active
            return json.dumps(data, sort_keys=True) != was

        with self._mutex:
            changed, _ = self._change(put)
        return bool(changed)

    def active(self) -> tuple[str, bytes]:
        data = self._load()
        return data["active"], b64d(data["keys"][data["active"]])

    def get(self, kid: str) -> bytes | None:
        raw = self._load()["keys"].get(kid)
        return b64d(raw) if raw else None


_TOKEN = re.compile(r"^[A-Za-z0-9]{1,16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


class Signer:
    """Compact HMAC-SHA256 tokens: <kid>.<payload b64url>.<mac b64url>, bound to a purpose.
    A token has exactly one spelling: unpadded base64url with no slack bits."""

    MAX_TOKEN_LEN = 2048

    def __init__(self, purpose: str, ring: KeyRing, mac_bytes: int = 16) -> None:
        self.purpose = purpose
        self.ring = ring
        self.mac_bytes = mac_bytes

    def _mac(self, key: bytes, kid: str, body: str) -> bytes:
        msg = f"{self.purpose}.{kid}.{body}".encode()
        return hmac.new(key, msg, hashlib.sha256).digest()[: self.mac_bytes]

    def sign(self, payload: dict[str, Any], ttl_s: int | None = None) -> str:
        claims = dict(payload)
        if ttl_s is not None:
            claims["exp"] = int(time.time()) + ttl_s
        kid, key = self.ring.active()
        body = b64e(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{kid}.{body}.{b64e(self._mac(key, kid, body))}"

    def verify(self, token: str, now: float | None = None) -> dict[str, Any]:
        if not isinstance(token, str) or len(token) > self.MAX_TOKEN_LEN or not _TOKEN.match(token):
            raise TokenError("malformed", "token is not in the expected format")
        kid, body, mac = token.split(".")
        try:
            canonical = b64e(b64d(body)) == body and b64e(b64d(mac)) == mac  # no padding, no slack bits
        except ValueError:
            canonical = False
        if not canonical:
            raise TokenError("malformed", "token is not in its one canonical encoding")
        key = self.ring.get(kid)
        if key is None:
            raise TokenError("unknown_key", "token was signed with a key that is not (or no longer) known")
        try:
            given = b64d(mac)
        except (ValueError, TypeError) as exc:
            raise TokenError("malformed", "token signature is not base64") from exc
        if not hmac.compare_digest(given, self._mac(key, kid, body)):
            raise TokenError("bad_signature", "token signature does not match")
        try:
            claims = json.loads(b64d(body))
        except (ValueError, TypeError) as exc:
            raise TokenError("malformed", "token payload is not JSON") from exc
        if not isinstance(claims, dict):
            raise TokenError("malformed", "token payload is not an object")
        exp = claims.get("exp")
        if exp is not None and (now if now is not None else time.time()) > float(exp):
            raise TokenError("expired", "token has expired")
        return claims


class Sealer:
    """AES-256-GCM with a key id, for data at rest (face templates). Tampering raises."""

    NONCE = 12

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def seal(self, plaintext: bytes, aad: bytes = b"") -> tuple[str, bytes]:
        kid, key = self.ring.active()
        nonce = secrets.token_bytes(self.NONCE)
        return kid, nonce + AESGCM(key).encrypt(nonce, plaintext, aad)

    def open(self, kid: str, blob: bytes, aad: bytes = b"") -> bytes:
        key = self.ring.get(kid)
        if key is None:
            raise TokenError("unknown_key", f"no key {kid!r} to decrypt with")
        return AESGCM(key).decrypt(blob[: self.NONCE], blob[self.NONCE :], aad)


def hash_token(token: str) -> str:
    """Device tokens are high-entropy, so a plain SHA-256 is the right (fast) lookup hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def broker_password_hash(password: str, salt: bytes | None = None) -> str:
    """Mosquitto's `$7$` password hash (PBKDF2-HMAC-SHA512, 101 rounds), as mosquitto_passwd
    writes it: the store broker's password file holds these, never a password."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101, 64)
    return f"$7$101${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def new_device_token() -> str:
    return "dev_" + b64e(secrets.token_bytes(24))


SECRET_FIELD_WORDS = ("password", "secret", "token", "key")


def mask_secrets(data: Any) -> Any:
    """Mask anything that looks like a secret in a config dump (belt and braces)."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if any(w in str(k).lower() for w in SECRET_FIELD_WORDS) and v not in (None, ""):
                out[k] = "***"
            else:
                out[k] = mask_secrets(v)
        return out
    if isinstance(data, list):
        return [mask_secrets(v) for v in data]
    if isinstance(data, str) and "://" in data:
        return mask_url(data)
    return data


_SECRET_QUERY = re.compile(r"(?i)((?:^|&)[^&=]*(?:pass|pwd|secret|token|key|auth)[^&=]*=)[^&]*")


def mask_url(url: str) -> str:
    """Hide a URL's password (or a bare token in the user slot) and secret-named query values,
    e.g. rtsp://admin:***@cam/stream and https://***@cloud; the rest stays readable."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        user, colon, _password = creds.partition(":")
        netloc = f"{user}:***@{host}" if colon else f"***@{host}"
    query = _SECRET_QUERY.sub(r"\1***", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))
