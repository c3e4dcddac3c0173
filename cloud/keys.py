"""Key delivery: the chain's and each store's signing keys, kept by the cloud, sealed to each box.

Chain rings (member and coupon codes) verify in every store; store rings (exit passes,
fitting-room doors, calls between the boxes of a store) are shared by the boxes of one store
only. A box registers an X25519 public key (its private half never leaves the box); every key it
receives is sealed to that public key (ephemeral X25519, HKDF-SHA256, AES-256-GCM, bound to the
box, the purpose and the key id), so a copy of the answer is useless anywhere else. At rest the
keys are sealed with the receiver's master key (CLOUD_RECEIVER_MASTER_KEY, never in the database).
Rotation adds a key and makes it active; retirement stops delivering the older ones, and the
boxes drop them on their next fetch. docs/architecture.md "Keys" has the whole picture.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

import psycopg
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CHAIN_PURPOSES = ("member", "coupon", "lookup", "guide")
# members' phone hashes are made with the lookup key (cloud/members.py): rotating it would orphan them
FIXED_PURPOSES = ("lookup",)
STORE_PURPOSES = ("exit_pass", "room_code", "peer")
BOX_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
INFO = b"retail-edge key delivery v1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS box_key (
    store_id text NOT NULL, box_id text NOT NULL, public_key bytea NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (store_id, box_id));
CREATE TABLE IF NOT EXISTS ring_key (
    scope text NOT NULL, purpose text NOT NULL, kid text NOT NULL, sealed bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), retired_at timestamptz,
    PRIMARY KEY (scope, purpose, kid));
CREATE TABLE IF NOT EXISTS ring_active (
    scope text NOT NULL, purpose text NOT NULL, kid text NOT NULL, PRIMARY KEY (scope, purpose));
"""


def b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def master_key(text: str | None) -> bytes | None:
    """The receiver's 32-byte master key from its base64url text, or None when unset or unusable."""
    try:
        raw = b64d(text or "")
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def scopes_for(store_id: str) -> list[tuple[str, str]]:
    """(scope, purpose) of every ring a box of this store receives."""
    return [("chain", p) for p in CHAIN_PURPOSES] + [(f"store:{store_id}", p) for p in STORE_PURPOSES]


def check_public_key(body: Any) -> bytes | str:
    """The 32 raw bytes of a box's X25519 public key, or the sentence saying what is wrong."""
    text = body.get("public_key") if isinstance(body, dict) else None
    if not isinstance(text, str) or len(text) > 64:
        return "public_key must be the box's X25519 public key, 32 bytes in base64url"
    try:
        raw = b64d(text)
    except ValueError:
        return "public_key is not base64url"
    return raw if len(raw) == 32 else "public_key must be 32 bytes (X25519)"


def check_ring(body: Any) -> tuple[str, str] | str:
    """(scope, purpose) of an admin call, or the sentence saying what is wrong."""
    if not isinstance(body, dict):
        return "the body must be an object with scope and purpose"
    scope, purpose = body.get("scope"), body.get("purpose")
    if purpose in FIXED_PURPOSES:
        return f"the {purpose} ring is not rotated: members' phone hashes are made with it"
    if scope == "chain" and purpose in CHAIN_PURPOSES:
        return scope, purpose
    if isinstance(scope, str) and scope.startswith("store:") and purpose in STORE_PURPOSES:
        return scope, purpose
    return f"scope is 'chain' (purposes {list(CHAIN_PURPOSES)}) or 'store:<id>' (purposes {list(STORE_PURPOSES)})"


def register(conn: psycopg.Connection[Any], store: str, box: str, public_key: bytes) -> None:
    with conn.transaction():
        conn.execute(
            "INSERT INTO box_key (store_id, box_id, public_key) VALUES (%s, %s, %s) ON CONFLICT (store_id, box_id)"
            " DO UPDATE SET public_key = excluded.public_key, registered_at = now()"
            " WHERE box_key.public_key <> excluded.public_key",
            (store, box, public_key),
        )


def _add_key(conn: psycopg.Connection[Any], master: bytes, scope: str, purpose: str) -> str:
    """A new key for the ring, made active; the caller holds the ring's advisory lock."""
    row = conn.execute("SELECT count(*) FROM ring_key WHERE scope = %s AND purpose = %s", (scope, purpose)).fetchone()
    kid = f"c{int(row[0]) + 1 if row else 1}"
    nonce = secrets.token_bytes(12)
    sealed = nonce + AESGCM(master).encrypt(nonce, secrets.token_bytes(32), f"{scope}.{purpose}.{kid}".encode())
    conn.execute(
        "INSERT INTO ring_key (scope, purpose, kid, sealed) VALUES (%s, %s, %s, %s)", (scope, purpose, kid, sealed)
    )
    conn.execute(
        "INSERT INTO ring_active (scope, purpose, kid) VALUES (%s, %s, %s)"
        " ON CONFLICT (scope, purpose) DO UPDATE SET kid = excluded.kid",
        (scope, purpose, kid),
    )
    return kid


def _lock(conn: psycopg.Connection[Any], scope: str, purpose: str) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ring:{scope}:{purpose}",))


def rotate(conn: psycopg.Connection[Any], master: bytes, scope: str, purpose: str) -> str:
    with conn.transaction():
        _lock(conn, scope, purpose)
        return _add_key(conn, master, scope, purpose)


def retire(conn: psycopg.Connection[Any], scope: str, purpose: str) -> list[str]:
    """Stop delivering every key of the ring but the active one; returns the retired key ids."""
    with conn.transaction():
        _lock(conn, scope, purpose)
        rows = conn.execute(
            "UPDATE ring_key k SET retired_at = now() FROM ring_active a WHERE k.scope = %s AND k.purpose = %s"
            " AND a.scope = k.scope AND a.purpose = k.purpose AND k.kid <> a.kid AND k.retired_at IS NULL"
            " RETURNING k.kid",
            (scope, purpose),
        ).fetchall()
    return sorted(r[0] for r in rows)


def active_key(conn: psycopg.Connection[Any], master: bytes, scope: str, purpose: str) -> bytes:
    """The ring's active key in the clear (for the cloud's own use), made on first use."""
    with conn.transaction():
        _lock(conn, scope, purpose)
        row = conn.execute("SELECT kid FROM ring_active WHERE scope = %s AND purpose = %s", (scope, purpose)).fetchone()
        kid = row[0] if row else _add_key(conn, master, scope, purpose)
        sealed = conn.execute(
            "SELECT sealed FROM ring_key WHERE scope = %s AND purpose = %s AND kid = %s", (scope, purpose, kid)
        ).fetchone()
    assert sealed is not None
    return _unseal(master, scope, purpose, kid, bytes(sealed[0]))


def _unseal(master: bytes, scope: str, purpose: str, kid: str, sealed: bytes) -> bytes:
    raw: bytes = AESGCM(master).decrypt(sealed[:12], sealed[12:], f"{scope}.{purpose}.{kid}".encode())
    return raw


def _seal_to(box_public: bytes, secret: bytes, aad: bytes) -> str:
    eph = X25519PrivateKey.generate()
    eph_public = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    shared = eph.exchange(X25519PublicKey.from_public_bytes(box_public))
    key = HKDF(hashes.SHA256(), 32, salt=None, info=INFO + eph_public + box_public).derive(shared)
    nonce = secrets.token_bytes(12)
    return b64e(eph_public + nonce + AESGCM(key).encrypt(nonce, secret, aad))


def rings_for(conn: psycopg.Connection[Any], master: bytes, store: str, box: str) -> dict[str, Any] | None:
    """Every ring of this box's store and chain, each key sealed to the box; None for an unknown box.
    A ring's first key is made on its first delivery."""
    rings: dict[str, Any] = {}
    with conn.transaction():  # first: the pool rolls back whatever a request leaves open
        row = conn.execute(
            "SELECT public_key FROM box_key WHERE store_id = %s AND box_id = %s", (store, box)
        ).fetchone()
        if row is None:
            return None
        box_public = bytes(row[0])
        for scope, purpose in scopes_for(store):
            _lock(conn, scope, purpose)
            active = conn.execute(
                "SELECT kid FROM ring_active WHERE scope = %s AND purpose = %s", (scope, purpose)
            ).fetchone()
            active_kid = active[0] if active else _add_key(conn, master, scope, purpose)
            keys = {}
            for kid, sealed in conn.execute(
                "SELECT kid, sealed FROM ring_key WHERE scope = %s AND purpose = %s AND retired_at IS NULL",
                (scope, purpose),
            ):
                raw = _unseal(master, scope, purpose, kid, bytes(sealed))
                keys[kid] = _seal_to(box_public, raw, f"{box}.{purpose}.{kid}".encode())
            rings[purpose] = {"scope": scope, "active": active_kid, "keys": keys}
    return rings
