"""The uploader: drains the outbox to the cloud in order, one bounded batch in flight.

Rows are written first (by the domains, in their own transactions) and marked sent only after
the cloud acknowledged them, so a crash anywhere resends and the cloud's idempotency on
`event_id` absorbs the duplicate. One request in flight at a time keeps order within each
stream and keeps memory flat however slow the cloud gets.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from edge.platform.errors import ResourceFault
from edge.platform.store import Store
from edge.platform.timeutil import utcnow
from edge.platform.worker import Detached, Worker
from edge.sync import metrics
from edge.sync.client import CloudClient, Outcome
from edge.sync.settings import SyncSettings
from edge.sync.store import Backlog, OutboxStore, Rejection, Row

_InFlight = Detached[Outcome]  # one request on a daemon thread of its own

log = logging.getLogger(__name__)
STATS_EVERY_S = 1.0


class Backoff:
    """Exponential backoff with jitter ("equal jitter": half fixed, half random), Retry-After aware."""

    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.failures = 0
        self.rng = rng or random.Random()

    def next_delay(self, retry_after_s: float | None = None) -> float:
        cap = min(self.max_s, self.initial_s * (2 ** min(self.failures, 30)))
        self.failures += 1
        delay = cap / 2 + self.rng.uniform(0, cap / 2)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_s))
        return delay

    def reset(self) -> None:
        self.failures = 0


@dataclass
class UploaderState:
    """What /readyz and the dashboard show; written by the uploader thread only."""

    last_success_at: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None
    next_attempt_at: datetime | None = None
    consecutive_failures: int = 0
    sent_total: int = 0
    errors_total: int = 0
    quarantined_total: int = 0
    backlog: Backlog = Backlog(0, None)  # noqa: RUF009 (immutable)


class Uploader:
    def __init__(
        self, store: Store, settings: SyncSettings, store_id: str, node: str, token: Callable[[], str | None]
    ) -> None:
        self.settings = settings
        self.outbox = OutboxStore(store)
        self.client = CloudClient(settings, store_id, node)
        self.token = token
        self.backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
        self.state = UploaderState()
        self.batch_limit = settings.batch_size
        self.worker = Worker("sync-uploader", self._run)
        self._last_stats = 0.0
        self._last_prune = 0.0
        self._pending: tuple[list[Row], _InFlight, float] | None = None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 3.0) -> None:
        self.worker.stop(timeout)
        self.client.close()

    def wake(self) -> None:
        """Look for new rows now (a domain just wrote some); cheap and safe from any thread."""
        self.worker.wake()

    def _run(self, w: Worker) -> None:
        while not w.stopping:
            try:
                delay = self.step()
            except ResourceFault as exc:  # disk full, locked too long: nothing was half-written
                delay = self._failed(f"local database error: {exc.code}: {exc.details.get('cause', exc)}"[:300],
                                     "local_db", [])  # fmt: skip
            except Exception as exc:  # never let the thread die; the loop is the product
                log.exception("sync uploader step failed")
                delay = self._failed(f"uploader error: {exc}"[:300], "internal", [])
            if delay > 0 and not w.stopping:
                if self.state.consecutive_failures:
                    w.sleep(delay)  # backoff is not shortened by new rows
                else:
                    w.wait(delay)

    # --- one step -------------------------------------------------------------------------
    def step(self) -> float:
        """Send one batch if there is one; returns how long to wait before the next step.

        Pipelined, with one request in flight: while batch k is in flight, batch k+1 is read and
        encoded; once k is acknowledged, k+1 goes out and only then is k marked sent locally.
        The cloud has committed k before k+1 leaves, so order holds; a crash before the mark
        resends k and the cloud dedupes it.
        """
        self._housekeeping()
        token = self.token()
        if not token:
            return self._failed(
                "the sync_token secret is not set (RETAIL_EDGE_SECRET_SYNC_TOKEN or <data_dir>/secrets/sync_token)",
                "no_token",
                [],
            )
        if self._pending is not None:
            rows, future, t0 = self._pending
            self._pending = None
        else:
            rows = self.outbox.next_batch(self.batch_limit, self.settings.batch_max_bytes)
            if not rows:
                self.batch_limit = self.settings.batch_size
                return self.settings.idle_poll_s
            t0 = time.monotonic()
            future = _send(self.client, rows, token, self.client.encode(rows))
        upcoming = self._prefetch(rows) if len(rows) >= self.batch_limit else None
        outcome = future.result()
        metrics.BATCH_SECONDS.observe(time.monotonic() - t0)
        if outcome.kind == "acked":
            clean = len(outcome.acked) == len(rows) and not outcome.rejected
            if clean and upcoming is not None:
                self._pending = (upcoming[0], _send(self.client, upcoming[0], token, upcoming[1]),
                                 time.monotonic())  # fmt: skip
            return self._acked(rows, outcome)
        if outcome.kind == "bisect":
            return self._bisect(rows, outcome)
        reason = f"http_{outcome.http_status}" if outcome.http_status else "network"
        return self._failed(outcome.error, reason, rows, outcome.retry_after_s)

    def _prefetch(self, current: list[Row]) -> tuple[list[Row], bytes] | None:
        try:
            nxt = self.outbox.next_batch(self.batch_limit, self.settings.batch_max_bytes, after_seq=current[-1].seq)
        except ResourceFault:
            return None
        return (nxt, self.client.encode(nxt)) if nxt else None

    def _acked(self, rows: list[Row], outcome: Outcome) -> float:
        by_id = {r.event_id: r for r in rows}
        acked = [by_id[e].seq for e in outcome.acked]
        rejected = [
            Rejection(by_id[e].seq, status, code, reason)
            for e, (code, reason, status) in outcome.rejected.items()
            if e not in outcome.acked
        ]
        self.outbox.settle(acked, rejected)
        for rej in rejected:
            log.warning("sync: event seq=%s quarantined: %s %s", rej.seq, rej.code, rej.reason)
        metrics.SENT.inc(len(acked))
        metrics.DUPLICATES.inc(outcome.duplicates)
        metrics.QUARANTINED.inc(len(rejected))
        st = self.state
        st.sent_total += len(acked)
        st.quarantined_total += len(rejected)
        st.last_success_at = utcnow()
        st.consecutive_failures = 0
        st.next_attempt_at = None
        self.backoff.reset()
        if len(acked) + len(rejected) < len(rows):
            # The cloud left some events out of its answer: resend them after a short pause.
            return self.settings.backoff_initial_s
        self.batch_limit = min(self.settings.batch_size, self.batch_limit * 2)
        return 0.0

    def _bisect(self, rows: list[Row], outcome: Outcome) -> float:
        """A whole batch refused with a permanent 4xx: narrow down to the one event, then quarantine it."""
        if len(rows) > 1:
            self.batch_limit = max(1, len(rows) // 2)
            log.info("sync: batch of %d refused (%s); retrying with %d", len(rows), outcome.error, self.batch_limit)
            return 0.0
        code, reason, _ = outcome.rejected.get("*", (f"http_{outcome.http_status}", outcome.error, 0))
        self.outbox.settle([], [Rejection(rows[0].seq, outcome.http_status, code, reason or outcome.error)])
        log.warning("sync: event seq=%s quarantined: %s", rows[0].seq, outcome.error)
        metrics.QUARANTINED.inc()
        self.state.quarantined_total += 1
        self.batch_limit = self.settings.batch_size
        return 0.0

    def _failed(self, error: str, reason: str, rows: list[Row], retry_after_s: float | None = None) -> float:
        delay = self.backoff.next_delay(retry_after_s)
        st = self.state
        st.consecutive_failures += 1
        st.errors_total += 1
        st.last_error = error
        st.last_error_at = utcnow()
        st.next_attempt_at = st.last_error_at + timedelta(seconds=delay)
        metrics.ERRORS.labels(reason=reason).inc()
        if rows:
            try:
                self.outbox.record_failure([r.seq for r in rows], error, st.next_attempt_at)
            except ResourceFault:
                log.warning("sync: could not record the failed attempt (database busy or full)")
        if st.consecutive_failures in (1, 10) or st.consecutive_failures % 100 == 0:
            log.warning("sync: %s; retry in %.1f s (failure %d)", error, delay, st.consecutive_failures)
        return delay

    # --- stats and pruning -----------------------------------------------------------------
    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_stats >= STATS_EVERY_S:
            self._last_stats = now
            self.refresh_stats()
        if now - self._last_prune >= self.settings.prune_interval_s:
            self._last_prune = now
            pruned = self.outbox.prune(timedelta(days=self.settings.retention_days))
            if pruned:
                metrics.PRUNED.inc(pruned)
                log.info("sync: pruned %d sent events older than %s days", pruned, self.settings.retention_days)

    def refresh_stats(self) -> Backlog:
        backlog = self.outbox.backlog()
        self.state.backlog = backlog
        metrics.BACKLOG.set(backlog.count)
        metrics.OLDEST_AGE.set(backlog.oldest_age_s() or 0.0)
        return backlog


def _send(client: CloudClient, rows: list[Row], token: str, body: bytes) -> _InFlight:
    """One request on a daemon thread of its own: a stuck request never holds up the exit."""

    def failed(exc: Exception) -> Outcome:  # reported to the uploader as a retryable failure
        return Outcome("retry", error=f"send failed: {exc}"[:300])

    return Detached("sync-send", lambda: client.send(rows, token, body), failed)
