"""Down-sync: catalog, prices, promotions, recalls, members, wallets and erasures, in order.

The feed is a list of versions after a cursor (with an ETag so an idle poll costs a 304). A
version is applied only once its whole body has arrived and its sha256 matches: a response cut
in the middle fails to parse or to verify and nothing is applied. Each version goes through
the owning domain's own function, which applies it in one SQLite transaction, so a cart sees
the old catalog or the new one, never half. The cursor moves after the apply; a crash in
between re-applies the same version, which is harmless because every apply is idempotent
(a replacement, an upsert or an erasure).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx

from edge.platform.context import Context
from edge.platform.timeutil import utcnow
from edge.platform.worker import Worker
from edge.sync import metrics, state
from edge.sync.contract import Applier, NotReady, VersionRefused
from edge.sync.settings import SyncSettings

log = logging.getLogger(__name__)

CURSOR = "downsync.cursor"
ETAG = "downsync.etag"
LAST_OK = "downsync.last_ok_at"
APPLIED = "downsync.applied."
REFUSED = "downsync.refused"
# The kinds the cloud contract defines (docs/cloud-api.yaml). One with no applier registered
# waits (its owner is not running on this box); any other kind is refused and skipped.
KNOWN_KINDS = ("catalog", "prices", "promotions", "member_erasure", "recalls", "members", "wallets")


def digest(items: Any) -> str:
    canon = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()


class DownSync:
    """Polls the cloud's change feed on its own thread and applies versions in order."""

    def __init__(
        self,
        ctx: Context,
        settings: SyncSettings,
        token: Callable[[], str | None],
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.token = token
        self.appliers: dict[str, Applier] = {}  # each kind's owner registers its own (edge.sync.contract)
        verify: Any = str(settings.ca_file) if settings.ca_file else True
        self.http = httpx.Client(
            base_url=(settings.url or "").rstrip("/"),
            timeout=httpx.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s),
            verify=verify,
        )
        self.last_error = ""
        self.worker = Worker("sync-downsync", self._run)

    def register(self, kind: str, applier: Applier) -> None:
        self.appliers[kind] = applier

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 3.0) -> None:
        self.worker.stop(timeout)
        self.http.close()

    def poll_now(self) -> None:
        self.worker.wake()

    def _run(self, w: Worker) -> None:
        while not w.stopping:
            try:
                self.poll()
            except Exception as exc:  # the thread must survive anything; the reason is shown
                log.exception("down-sync poll failed")
                self.last_error = f"down-sync error: {exc}"[:300]
            w.wait(self.settings.downsync_interval_s)

    def poll(self) -> int:
        """Fetch and apply every pending version; returns how many were applied."""
        token = self.token()
        if not token:
            self.last_error = "the sync_token secret is not set"
            return 0
        applied = 0
        store_id = self.ctx.settings.store.id
        while not self.worker.stopping:
            cursor = int(state.get(self.ctx.store, CURSOR, 0))
            etag = state.get(self.ctx.store, ETAG)
            headers = {"Authorization": f"Bearer {token}"}
            if etag:
                headers["If-None-Match"] = etag
            try:
                resp = self.http.get(f"/v1/stores/{store_id}/changes", params={"after": cursor}, headers=headers)
                if resp.status_code == 304:
                    return self._ok(applied)
                if resp.status_code != 200:
                    return self._fail(
                        f"cloud answered {resp.status_code} to the change feed", f"http_{resp.status_code}"
                    )
                data = resp.json()  # the whole body is in memory: a cut response never gets this far
                changes = data["changes"]
                more = bool(data.get("more"))
                new_etag = resp.headers.get("etag")
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                return self._fail(f"change feed unreadable or cut: {type(exc).__name__}", "transport")
            for change in changes:
                if digest(change.get("items")) != change.get("sha256"):
                    return self._fail(f"version {change.get('version')} failed its sha256 check", "digest")
            for change in changes:
                outcome = self._apply(change)
                if outcome == "held":
                    return applied
                applied += outcome == "applied"
            if not changes:
                with self.ctx.store.write() as s:
                    state.put(s, ETAG, new_etag or "")
            if not more:
                return self._ok(applied)
        return applied

    def _apply(self, change: dict[str, Any]) -> str:
        """ "applied", "refused" (recorded and skipped) or "held" (try again later)."""
        version, kind, items = int(change["version"]), str(change["kind"]), change["items"]
        fn = self.appliers.get(kind)
        refused = ""
        try:
            if fn is None and kind in KNOWN_KINDS:
                raise NotReady(f"the part of the box that applies {kind} versions is not running; they wait")
            if fn is None:
                raise VersionRefused(f"unknown version kind {kind!r}")
            fn(version, items)
        except NotReady as exc:
            self._fail(str(exc), "not_ready")
            return "held"
        except VersionRefused as exc:
            refused = str(exc)[:300]
            log.warning("down-sync: version %s (%s) refused: %s", version, kind, refused)
        with self.ctx.store.write() as s:
            if refused:
                state.put(s, REFUSED, {"version": version, "kind": kind, "reason": refused, "at": utcnow()})
            else:
                state.put(s, APPLIED + kind, {"version": version, "items": len(items), "applied_at": utcnow()})
            state.put(s, CURSOR, version)
        if not refused:
            metrics.DOWNSYNC_APPLIED.labels(kind=kind).inc()
            log.info("down-sync: applied %s version %s (%d items)", kind, version, len(items))
        return "refused" if refused else "applied"

    def _ok(self, applied: int) -> int:
        self.last_error = ""
        with self.ctx.store.write() as s:
            state.put(s, LAST_OK, utcnow())
        metrics.DOWNSYNC_AGE.set(0)
        return applied

    def _fail(self, reason: str, label: str) -> int:
        self.last_error = reason
        metrics.DOWNSYNC_ERRORS.labels(reason=label).inc()
        log.warning("down-sync: %s", reason)
        return 0

    def status(self) -> dict[str, Any]:
        from edge.sync.store import parse_ts

        values = state.get_all(self.ctx.store, "downsync.")
        last_ok = parse_ts(values.get(LAST_OK))
        age = (utcnow() - last_ok).total_seconds() if last_ok else None
        if age is not None:
            metrics.DOWNSYNC_AGE.set(age)
        return {
            "cursor": values.get(CURSOR, 0),
            "last_ok_at": last_ok,
            "staleness_s": age,
            "last_error": self.last_error,
            "applied": {k[len(APPLIED) :]: v for k, v in values.items() if k.startswith(APPLIED)},
            "last_refused": values.get(REFUSED),
        }
