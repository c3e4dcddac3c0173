"""Capture off the request path, and crash recovery of payments (see orders.py for the sequence).

The shopper gets the exit pass as soon as the order (with the authorised payment) commits; the
money is taken right after in a worker thread. Whatever a crash interrupts is settled at the next
start: a hold without an order is reversed, an authorised payment of a committed order captured.
The housekeeping loop does the same while running: failed captures are retried, and a hold whose
intent has had no order for `checkout.orphan_hold_after_s` is reversed — but only when that
session's lock is free, i.e. no checkout of that cart is in flight in this process.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Table, bindparam, update
from sqlmodel import col, select

from edge.checkout.models import KioskSession, PaymentIntent
from edge.checkout.payments import PaymentProvider
from edge.platform.errors import EdgeError
from edge.platform.locks import KeyedLocks
from edge.platform.store import Store
from edge.platform.timeutil import as_utc, utcnow
from edge.platform.worker import Worker
from edge.platform.writeslot import BACKGROUND

log = logging.getLogger(__name__)

_INTENT: Table = PaymentIntent.__table__  # type: ignore[attr-defined]
_AUTHORIZED_AMOUNTS = select(_INTENT.c.id, _INTENT.c.amount_minor).where(
    _INTENT.c.id.in_(bindparam("ids", expanding=True)), _INTENT.c.status == "authorized"
)
_MARK_CAPTURED = (
    update(_INTENT)
    .where(_INTENT.c.id == bindparam("b_id"), _INTENT.c.status == "authorized")
    .values(status="captured", captured_minor=bindparam("b_amount"), updated_at=bindparam("b_at"))
)
CAPTURE_BATCH_S = 0.25  # the money is taken at most this much later; the shopper already has the pass
CAPTURE_BATCH_MAX = 64


class Capturer:
    def __init__(
        self,
        store: Store,
        providers: dict[str, PaymentProvider],
        mark: Callable[[str, str, str], None],
        locks: KeyedLocks,
    ) -> None:
        self.store = store
        self.locks = locks
        self.providers = providers
        self._mark = mark
        self._captures: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._worker: Worker | None = None

    def submit(self, intent_id: str, order_id: str) -> None:
        """Capture soon (worker running) or now (a CLI or a test without the component started)."""
        if self._worker is not None:
            self._captures.put((intent_id, order_id))
        else:
            self.capture(intent_id, order_id)

    def capture(self, intent_id: str, order_id: str) -> bool:
        """Take the held money for a committed order; idempotent, so recovery may repeat it."""
        return self.capture_many([(intent_id, order_id)]) == 1

    def capture_many(self, jobs: list[tuple[str, str]]) -> int:
        """Capture each on the network, then record them all in ONE durable commit.

        Every commit with synchronous=FULL is an fsync that every kiosk's next write queues behind;
        at a busy hour captures were a fifth of them. Recording late is safe: until it is recorded
        an intent stays "authorized", and capturing it again is a no-op at the network."""
        taken = [(i, o) for i, o in jobs if self._take(i)]
        if not taken:
            return 0
        with self.store.read() as s:  # read before the write slot: kiosks queue behind it
            rows = s.run(_AUTHORIZED_AMOUNTS, {"ids": [i for i, _ in taken]}).all()
        amounts = {str(r[0]): int(r[1]) for r in rows}
        done = 0
        now = utcnow()
        with self.store.write(priority=BACKGROUND) as s:
            for intent_id, order_id in taken:
                amount = amounts.get(intent_id)
                if amount is None:
                    continue
                # Core, and conditional: voided meanwhile means no row changes and no event.
                if s.run(_MARK_CAPTURED, {"b_id": intent_id, "b_amount": amount, "b_at": now}).rowcount != 1:
                    continue
                s.outbox(
                    "orders",
                    "payment.captured",
                    {"order_id": order_id, "payment_id": intent_id, "amount_minor": amount},
                )
                done += 1
        return done

    def _take(self, intent_id: str) -> bool:
        """The network capture of one authorised intent; False when there is nothing to take."""
        with self.store.read() as s:
            it = s.get(PaymentIntent, intent_id)
        if it is None or it.status != "authorized":
            return False
        prov = self.providers.get(it.provider)
        if prov is None:
            return False
        try:
            prov.capture(intent_id)
        except EdgeError as exc:
            log.warning("capture of payment %s failed (%s); it will be retried", intent_id, exc.code)
            return False
        except Exception as exc:
            log.warning("capture of payment %s failed (%r); it will be retried", intent_id, exc)
            return False
        return True

    def start(self) -> None:
        """Capture in a worker thread, so the shopper has the exit pass as soon as the order commits."""
        if self._worker is None:
            self._worker = Worker("checkout-capture", self._capture_loop)
            self._worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.signal_stop()
            self._captures.put(None)  # the loop drains what was queued before it, then ends
            worker.stop(timeout)

    def _capture_loop(self, _w: Worker) -> None:
        while True:
            job = self._captures.get()
            if job is None:
                return
            jobs, stop = [job], False
            deadline = time.monotonic() + CAPTURE_BATCH_S  # gather what a busy minute brings
            while len(jobs) < CAPTURE_BATCH_MAX:
                try:
                    more = self._captures.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                jobs.append(more)
            try:
                self.capture_many(jobs)
            except Exception:
                log.exception("capture worker failed on %d payment(s); recovery will retry", len(jobs))
            if stop:
                return

    def recover(
        self, startup: bool = True, min_age_s: float = 0.0, orphan_age_s: float | None = None
    ) -> dict[str, int]:
        """Capture authorised payments of committed orders (older than `min_age_s`) and reverse holds
        whose intent has no order: all of them at startup (no request is in flight), and while running
        those older than `orphan_age_s` whose cart has no checkout in flight (None: none while running).
        """
        done = {"reversed": 0, "captured": 0}
        now = utcnow()
        cutoff = now - timedelta(seconds=min_age_s)
        orphan_cutoff = (
            now if startup else (now - timedelta(seconds=orphan_age_s) if orphan_age_s is not None else None)
        )
        with self.store.read() as s:
            pending = list(
                s.exec(
                    select(PaymentIntent).where(
                        col(PaymentIntent.status).in_(["authorizing", "authorized"]), PaymentIntent.updated_at <= cutoff
                    )
                )
            )
        for it in pending:
            if it.provider not in self.providers:
                continue
            if it.order_id is not None:
                done["captured"] += self.capture(it.id, it.order_id)
            elif orphan_cutoff is not None and as_utc(it.updated_at) <= orphan_cutoff:
                done["reversed"] += self._reverse_orphan(it.id, it.session_id, startup)
        return done

    def _reverse_orphan(self, intent_id: str, session_id: str, startup: bool) -> bool:
        """Query the network and undo whatever it holds for an intent that never got an order."""
        with self.locks.hold_if_free(session_id) as free:
            if not free:
                return False  # a checkout of this cart is running; it settles its own intent
            with self.store.read() as s:  # re-read under the lock: the checkout may have finished meanwhile
                it = s.get(PaymentIntent, intent_id)
            if it is None or it.order_id is not None or it.status not in ("authorizing", "authorized"):
                return False
            with self.store.read() as s:
                ks = s.get(KioskSession, it.session_id)
            if ks is not None and ks.status == "paying":
                return False  # an in-app payment: inapp.py asks the gateway and settles it
            prov = self.providers[it.provider]
            try:
                state = prov.query(it.id)
                if state.status in ("authorized", "captured", "absent"):  # absent: a pay may still be on its way;
                    prov.reverse(it.id)  # a rail's cancel closes the trade number so it can never be paid
                why = "recovered_no_order" if startup else "orphan_hold"
                self._mark(it.id, "reversed" if state.status != "absent" else "failed", why)
                log.warning("payment %s had no order; the network's %s was undone", it.id, state.status)
                return True
            except Exception as exc:
                log.warning("recovery of payment %s failed (%s); it will be retried", it.id, exc)
                return False
