"""Users, devices and who-is-calling; no FastAPI here."""

from __future__ import annotations

import os
import re
import threading
import time
from typing import Any, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import update
from sqlmodel import col, select

from edge.access.models import DEVICE_ROLES, Device, DevicePublic, UserAccount, UserRole
from edge.access.throttle import Attempt, LoginThrottle
from edge.platform.errors import Conflict, InvalidInput, NotFound, RateLimited, Unauthorized
from edge.platform.identity import Principal
from edge.platform.security import Signer, TokenError, broker_password_hash, hash_token, new_device_token
from edge.platform.store import Store
from edge.platform.timeutil import as_utc, utcnow

SESSION_TTL_S = 12 * 3600
DEVICE_CACHE_TTL_S = 5.0  # a revoke anywhere (this process or the CLI) clears it: see _revocations
LAST_SEEN_EVERY_S = 60.0
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
USER_ROLES: tuple[str, ...] = get_args(UserRole)
_hasher = PasswordHasher()
# A fixed hash so unknown usernames cost the same time as wrong passwords.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class AccessService:
    """Authentication for store IT (password, then a session token) and for devices (token)."""

    def __init__(self, store: Store, session_signer: Signer) -> None:
        self.store = store
        self.signer = session_signer
        # Every kiosk request authenticates; a short cache spares each one a database read.
        self._devices: dict[str, tuple[Principal, float]] = {}
        self._devices_lock = threading.Lock()
        # Touched by every revocation, in whichever process: the cache is dropped when it changes,
        # so `retail-edge devices revoke` cuts a token off for the very next request (one stat).
        self._revocations = store.path.with_name("devices.revoked")
        self._seen_revocation = self._revocation_stamp()
        self._users: dict[str, tuple[UserAccount | None, float]] = {}
        self.throttle = LoginThrottle()

    # --- users ---------------------------------------------------------------------
    def add_user(self, username: str, password: str, role: str = "it", *, actor: str = "cli", reason: str = "") -> None:
        if not _NAME.match(username):
            raise InvalidInput("username must be 1-64 letters, digits or . _ @ -", code="bad_username")
        if len(password) < 10:
            raise InvalidInput("password must be at least 10 characters", code="weak_password")
        if role not in USER_ROLES:
            raise InvalidInput(f"role must be one of {', '.join(USER_ROLES)}", code="bad_role")
        password_hash = _hasher.hash(password)  # argon2 outside the write slot: it takes a while
        with self.store.write() as s:
            if s.get(UserAccount, username) is not None:
                raise Conflict(f"user {username!r} already exists", code="user_exists")
            s.add(UserAccount(username=username, password_hash=password_hash, role=role))
            s.audit(actor, "user.add", username, role=role, **_why(reason))

    def list_users(self) -> list[UserAccount]:
        with self.store.read() as s:
            return list(s.exec(select(UserAccount).order_by(UserAccount.username)))  # type: ignore[arg-type]

    def login(self, username: str, password: str, client: str = "") -> str:
        """Password check, throttled (edge.access.throttle) before argon2 runs: no argon2, no audit
        row for a throttled attempt."""
        name = (username or "")[:64]
        attempt = self.throttle.begin(name, client)
        if not isinstance(attempt, Attempt):
            raise RateLimited(
                f"too many failed logins; try again in {int(attempt) + 1} s",
                code="login_throttled",
                details={"retry_after_s": int(attempt) + 1},
            )
        with self.store.write() as s:
            user = s.get(UserAccount, name) if _NAME.match(name) else None
            stored = user.password_hash if user and not user.disabled else _DUMMY_HASH
            try:
                ok = _hasher.verify(stored, password) and user is not None and not user.disabled
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                ok = False
            s.audit(f"user:{name}", "auth.login" if ok else "auth.login_failed", name, client=client)
        if not ok or user is None:
            raise Unauthorized("wrong username or password", code="bad_credentials")  # the attempt stays counted
        attempt.succeeded()
        claims = {"sub": user.username, "role": user.role, "ep": user.session_epoch}
        return self.signer.sign(claims, ttl_s=SESSION_TTL_S)

    def end_sessions(self, username: str, actor: str, disable: bool = False, reason: str = "") -> None:
        """Log a user out everywhere (logout), or disable the account: old tokens stop at once."""
        with self.store.write() as s:
            user = s.get(UserAccount, username)
            if user is None:
                raise NotFound(f"no user {username!r}", code="no_user")
            user.session_epoch += 1
            user.disabled = user.disabled or disable
            s.add(user)
            s.audit(actor, "user.disable" if disable else "auth.logout", username, **_why(reason))
        with self._devices_lock:
            self._users.pop(username, None)

    def _user(self, username: str) -> UserAccount | None:
        now = time.monotonic()
        with self._devices_lock:
            hit = self._users.get(username)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self.store.read() as s:
            user = s.get(UserAccount, username)
        with self._devices_lock:
            self._users[username] = (user, now + DEVICE_CACHE_TTL_S)
        return user

    # --- devices -------------------------------------------------------------------
    def add_device(self, device_id: str, role: str, name: str = "", *, actor: str = "cli", reason: str = "") -> str:
        """Create a device and return its token; only the hash is kept, so show it once."""
        if role not in DEVICE_ROLES:
            raise InvalidInput(f"role must be one of {', '.join(DEVICE_ROLES)}", code="bad_role")
        if not _NAME.match(device_id):
            raise InvalidInput("device id must be 1-64 letters, digits or . _ @ -", code="bad_device_id")
        token = new_device_token()
        with self.store.write() as s:
            if s.get(Device, device_id) is not None:
                raise Conflict(f"device {device_id!r} already exists", code="device_exists")
            s.add(
                Device(
                    id=device_id,
                    role=role,
                    name=name,
                    token_hash=hash_token(token),
                    mqtt_hash=broker_password_hash(token),
                )
            )
            s.audit(actor, "device.add", device_id, role=role, **_why(reason))
        return token

    def revoke_device(self, device_id: str, *, actor: str = "cli", reason: str = "") -> None:
        with self.store.write() as s:
            dev = s.get(Device, device_id)
            if dev is None:
                raise NotFound(f"no device {device_id!r}", code="no_device")
            dev.revoked_at = dev.revoked_at or utcnow()  # revoking again keeps when it was first revoked
            s.add(dev)
            s.audit(actor, "device.revoke", device_id, **_why(reason))
        self._revocations.touch()
        os.utime(self._revocations, ns=(time.time_ns(), time.time_ns()))  # a new stamp even within one tick
        with self._devices_lock:
            self._devices.clear()

    def _revocation_stamp(self) -> int:
        try:
            return self._revocations.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def broker_accounts(self) -> list[tuple[str, str, str]]:
        """(device id, role, broker password hash) of every device that may log in to the broker."""
        with self.store.read() as s:
            rows = s.exec(select(Device).where(col(Device.revoked_at).is_(None)).order_by(Device.id))  # type: ignore[arg-type]
            return [(d.id, d.role, d.mqtt_hash) for d in rows if d.mqtt_hash]

    def list_devices(self) -> list[DevicePublic]:
        with self.store.read() as s:
            rows = s.exec(select(Device).order_by(Device.id))  # type: ignore[arg-type]
            return [_device_view(d) for d in rows]

    def device(self, device_id: str) -> DevicePublic:
        with self.store.read() as s:
            dev = s.get(Device, device_id)
        if dev is None:
            raise NotFound(f"no device {device_id!r}", code="no_device")
        return _device_view(dev)

    # --- who is calling ------------------------------------------------------------
    def cached_device(self, token: str) -> Principal | None:
        """The device behind a token if it was checked within DEVICE_CACHE_TTL_S; None otherwise.

        Pure memory, so the HTTP layer can call it on the event loop: a kiosk request then needs
        no thread hop just to say who is calling."""
        if not token.startswith("dev_"):
            return None
        key = hash_token(token)
        stamp = self._revocation_stamp()
        with self._devices_lock:
            if stamp != self._seen_revocation:  # a device was revoked somewhere: check every token again
                self._devices.clear()
                self._seen_revocation = stamp
            hit = self._devices.get(key)
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def authenticate(self, token: str) -> Principal:
        """A device token or a user session token; anything else is refused."""
        if not token:
            raise Unauthorized("credentials required", code="no_credentials")
        if token.startswith("dev_"):
            key = hash_token(token)
            now = time.monotonic()
            cached = self.cached_device(token)
            if cached is not None:
                return cached
            stamp = self._revocation_stamp()  # read before the row: a revocation meanwhile is not cached over
            with self.store.read() as r:
                dev = r.exec(select(Device).where(Device.token_hash == key)).first()
            if dev is None or dev.revoked_at is not None:
                raise Unauthorized("unknown or revoked device token", code="bad_token")
            principal = Principal(kind="device", id=dev.id, role=dev.role)
            seen = dev.last_seen_at
            if seen is None or (utcnow() - as_utc(seen)).total_seconds() > LAST_SEEN_EVERY_S:
                with self.store.write(durable=False) as s:  # last_seen is a hint, not worth an fsync
                    s.execute(update(Device).where(col(Device.id) == dev.id).values(last_seen_at=utcnow()))
            with self._devices_lock:
                if len(self._devices) > 10_000:
                    self._devices.clear()
                if stamp == self._revocation_stamp():
                    self._devices[key] = (principal, now + DEVICE_CACHE_TTL_S)
            return principal
        try:
            claims = self.signer.verify(token)
        except TokenError as exc:
            raise Unauthorized(f"session is not valid: {exc}", code=f"session_{exc.code}") from exc
        user = self._user(str(claims.get("sub", "")))
        if user is None or user.disabled or claims.get("ep") != user.session_epoch:
            raise Unauthorized("this session has ended; log in again", code="session_ended")
        return Principal(kind="user", id=user.username, role=user.role)


def _why(reason: str) -> dict[str, Any]:
    """The audit detail for a reason: staff actions from the dashboard always give one; the CLI none."""
    return {"reason": reason} if reason else {}


def _device_view(d: Device) -> DevicePublic:
    return DevicePublic(
        id=d.id,
        role=d.role,
        name=d.name,
        created_at=d.created_at,
        revoked=d.revoked_at is not None,
        last_seen_at=d.last_seen_at,
    )
