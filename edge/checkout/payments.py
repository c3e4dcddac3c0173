"""Payment: one PaymentProvider interface and the sandbox network simulator (providers.py has the providers).

Every call carries the payment intent id as its idempotency key, so a retried call can never
charge twice: the network answers a repeated authorise with the charge it already holds. A
timeout is never retried blindly; checkout queries the key and reverses whatever is there.

There is no real acquirer on this box. `SandboxNetwork` is an honest simulator with its own
ledger (a separate SQLite file, the stand-in for the acquirer's books); it can be told to decline, time out
(charge recorded, reply lost), fail, or answer slowly after taking the hold. It is refused when `checkout.mode` is
"production", and so are the providers that would route money through it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from edge.platform.errors import EdgeError
from edge.platform.ids import new_id
from edge.platform.timeutil import utcnow

Outcome = Literal["approve", "decline", "timeout", "fail", "slow"]


class PaymentDeclined(EdgeError):
    status = 402
    code = "payment_declined"


class PaymentTimeout(EdgeError):
    status = 504
    code = "payment_timeout"


class PaymentFailed(EdgeError):
    status = 502
    code = "payment_failed"


class PaymentUnconfirmed(EdgeError):
    """The outcome is not known (the network could not be asked): never claims nothing was charged."""

    status = 502
    code = "payment_unconfirmed"


@dataclass(frozen=True)
class Simulation:
    """What the sandbox network should do with the next call (tests, demo, benchmark)."""

    outcome: Outcome = "approve"
    delay_ms: int = 0


@dataclass(frozen=True)
class ChargeState:
    status: str  # authorized | captured | reversed | refunded | absent
    amount_minor: int = 0
    refunded_minor: int = 0
    ref: str = ""


class PaymentProvider(Protocol):
    name: str

    def authorize(
        self,
        key: str,
        *,
        order_ref: str,
        amount_minor: int,
        currency: str,
        credential: str | None,
        simulation: Simulation | None = None,
    ) -> str:
        """Hold the amount; returns the provider reference. Raises PaymentDeclined/Timeout/Failed."""

    def capture(self, key: str) -> None:
        """Take the held amount (idempotent)."""

    def reverse(self, key: str, amount_minor: int | None = None, *, idempotency_key: str | None = None) -> ChargeState:
        """Release a hold, or refund (all or `amount_minor`) after capture.

        `idempotency_key` (a refund's or void's own id) makes the call safe to repeat: the network
        answers a repeated key with its first answer and moves no money again. PaymentTimeout (or
        any non-EdgeError) means the outcome is unknown; any other EdgeError means nothing moved.
        """

    def query(self, key: str) -> ChargeState:
        """What the network holds for this key (after a timeout)."""

    def reversal(self, key: str, idempotency_key: str) -> ChargeState | None:
        """The answer a reverse() with this idempotency key got, or None if the network never applied it."""


SANDBOX_DB = "sandbox-acquirer.db"
_LEDGER = """CREATE TABLE IF NOT EXISTS sandbox_charge (
    id TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, order_ref TEXT NOT NULL, method TEXT NOT NULL,
    amount_minor INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL,
    captures INTEGER NOT NULL DEFAULT 0, refunded_minor INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL)"""
_REVERSALS = """CREATE TABLE IF NOT EXISTS sandbox_reversal (
    idempotency_key TEXT PRIMARY KEY, charge_key TEXT NOT NULL, requested_minor INTEGER,
    status TEXT NOT NULL, amount_minor INTEGER NOT NULL, refunded_minor INTEGER NOT NULL, ref TEXT NOT NULL,
    created_at TEXT NOT NULL)"""


class SandboxNetwork:
    """The simulated acquirer. Its books are its own SQLite file (`sandbox-acquirer.db` in the data
    dir), not the store's database: the acquirer is another system, and its writes must not queue
    behind the store's. One row per idempotency key; synchronous=FULL like a real ledger.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        with self._conn() as conn:
            conn.execute(_LEDGER)
            conn.execute(_REVERSALS)
            conn.execute("CREATE INDEX IF NOT EXISTS ix_sandbox_order_ref ON sandbox_charge(order_ref)")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
        return conn

    def _row(self, conn: sqlite3.Connection, key: str) -> tuple[Any, ...] | None:
        return conn.execute(  # type: ignore[no-any-return]
            "SELECT id, status, amount_minor, refunded_minor FROM sandbox_charge WHERE idempotency_key=?", (key,)
        ).fetchone()

    def authorize(
        self,
        key: str,
        *,
        order_ref: str,
        method: str,
        amount_minor: int,
        currency: str,
        simulation: Simulation | None = None,
    ) -> str:
        sim = simulation or Simulation()
        if sim.delay_ms and sim.outcome != "slow":
            time.sleep(min(sim.delay_ms, 30000) / 1000)
        if sim.outcome == "fail":
            raise PaymentFailed("the payment network returned an error; nothing was charged", code="payment_failed")
        if sim.outcome == "decline":
            raise PaymentDeclined("the payment was declined; try another way to pay")
        conn = self._conn()
        conn.execute(
            "INSERT OR IGNORE INTO sandbox_charge (id, idempotency_key, order_ref, method, amount_minor, currency, "
            "status, created_at) VALUES (?, ?, ?, ?, ?, ?, 'authorized', ?)",
            (new_id(), key, order_ref, method, amount_minor, currency, utcnow().isoformat()),
        )
        row = self._row(conn, key)
        assert row is not None
        if sim.outcome == "timeout":  # the hold exists, but the reply never arrives
            raise PaymentTimeout("the payment network did not answer in time")
        if sim.outcome == "slow":  # the hold exists and the reply is late (a crash here is the hard case)
            time.sleep(min(sim.delay_ms, 30000) / 1000)
        return str(row[0])

    def capture(self, key: str) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = self._row(conn, key)
            if row is None:
                raise PaymentFailed("nothing to capture for this payment", code="capture_without_hold")
            if row[1] == "authorized":
                conn.execute(
                    "UPDATE sandbox_charge SET status='captured', captures=captures+1 WHERE idempotency_key=?", (key,)
                )
            elif row[1] != "captured":
                raise PaymentFailed(f"cannot capture a {row[1]} payment", code="capture_refused")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def reverse(self, key: str, amount_minor: int | None = None, *, idempotency_key: str | None = None) -> ChargeState:
        """Release or refund; a repeated `idempotency_key` gets its first answer and moves nothing."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if idempotency_key is not None:
                done = self._reversal(conn, idempotency_key)
                if done is not None:
                    if done[0] != key:
                        raise PaymentFailed("this refund key belongs to another payment", code="refund_key_reused")
                    conn.execute("COMMIT")
                    return ChargeState(*done[1:])
            row = self._row(conn, key)
            if row is None:
                state = ChargeState("absent")
            else:
                ref, status, amount, refunded = row
                if status == "authorized":
                    status = "reversed"
                elif status in ("captured", "refunded"):
                    left = amount - refunded
                    take = left if amount_minor is None else amount_minor
                    if take > left:
                        raise PaymentFailed("refund exceeds what is left of the payment", code="refund_too_large")
                    refunded += take
                    status = "refunded" if refunded >= amount else "captured"
                conn.execute(
                    "UPDATE sandbox_charge SET status=?, refunded_minor=? WHERE idempotency_key=?",
                    (status, refunded, key),
                )
                state = ChargeState(status, amount, refunded, ref)
            if idempotency_key is not None:
                conn.execute(
                    "INSERT INTO sandbox_reversal (idempotency_key, charge_key, requested_minor, status, amount_minor, "
                    "refunded_minor, ref, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        idempotency_key,
                        key,
                        amount_minor,
                        state.status,
                        state.amount_minor,
                        state.refunded_minor,
                        state.ref,
                        utcnow().isoformat(),
                    ),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return state

    def _reversal(self, conn: sqlite3.Connection, idempotency_key: str) -> tuple[Any, ...] | None:
        return conn.execute(  # type: ignore[no-any-return]
            "SELECT charge_key, status, amount_minor, refunded_minor, ref FROM sandbox_reversal "
            "WHERE idempotency_key=?",
            (idempotency_key,),
        ).fetchone()

    def reversal(self, key: str, idempotency_key: str) -> ChargeState | None:
        row = self._reversal(self._conn(), idempotency_key)
        if row is None or row[0] != key:
            return None
        return ChargeState(*row[1:])

    def reversals(self, key: str) -> list[dict[str, Any]]:
        """Every reverse call the network applied to one payment (tests, audits)."""
        cur = self._conn().execute(
            "SELECT idempotency_key, requested_minor, status, refunded_minor FROM sandbox_reversal "
            "WHERE charge_key=? ORDER BY created_at",
            (key,),
        )
        keys = ("idempotency_key", "requested_minor", "status", "refunded_minor")
        return [dict(zip(keys, r, strict=True)) for r in cur.fetchall()]

    def query(self, key: str) -> ChargeState:
        row = self._row(self._conn(), key)
        if row is None:
            return ChargeState("absent")
        return ChargeState(row[1], row[2], row[3], row[0])

    def charges(self, order_ref: str) -> list[dict[str, Any]]:
        """The ledger rows for one cart (tests, the benchmark)."""
        cur = self._conn().execute(
            "SELECT idempotency_key, status, amount_minor, captures, refunded_minor FROM sandbox_charge "
            "WHERE order_ref=? ORDER BY created_at",
            (order_ref,),
        )
        keys = ("key", "status", "amount_minor", "captures", "refunded_minor")
        return [dict(zip(keys, r, strict=True)) for r in cur.fetchall()]
