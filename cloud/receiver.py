"""Reference cloud receiver (FastAPI + psycopg 3) implementing docs/cloud-api.yaml.

Stateless: every request is one PostgreSQL transaction, so any number of these can run behind
a load balancer over one database. A batch is acknowledged only after its transaction committed.

Run: python scripts/cloud_receiver.py --dsn postgresql://postgres@127.0.0.1/cloud --port 8700
Store tokens: CLOUD_RECEIVER_TOKENS="store-1=token1,store-2=token2" (or --tokens-file, one per line).
Key delivery (cloud/keys.py): CLOUD_RECEIVER_MASTER_KEY, 32 random bytes in base64url, from the
deployment's secret manager; without it the key routes answer 503 and boxes keep their own keys.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from cloud import coupons, keys, members, pgstore
from cloud.faults import DropMiddleware, FaultConfig, Faults
from cloud.members_api import member_routes

MAX_BODY = 16 * 1024 * 1024
MAX_EVENTS = 10_000
DOWNSYNC_KINDS = {"catalog", "prices", "promotions", "member_erasure", "recalls", "members", "wallets"}


def error(status: int, code: str, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


async def _json(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > 64 * 1024:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def parse_tokens(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.replace("\n", ",").split(","):
        if "=" in part:
            store, token = part.split("=", 1)
            out[store.strip()] = token.strip()
    return out


def validate_event(raw: Any, reject_kinds: list[str]) -> tuple[pgstore.Event | None, dict[str, Any] | None]:
    """One event checked on its own: a bad one is rejected without failing the batch."""
    if not isinstance(raw, dict):
        return None, {"event_id": "", "code": "invalid_event", "reason": "event is not an object", "status": 422}
    eid = str(raw.get("event_id", ""))
    try:
        uuid.UUID(eid)
    except ValueError:
        return None, {"event_id": eid, "code": "invalid_event_id", "reason": "event_id is not a UUID", "status": 422}
    stream, kind, seq, ver = raw.get("stream"), raw.get("kind"), raw.get("seq"), raw.get("schema_version", 1)
    payload = raw.get("payload")
    problem = None
    if not isinstance(stream, str) or not 0 < len(stream) <= 32:
        problem = ("invalid_stream", "stream must be a string of 1-32 characters")
    elif not isinstance(kind, str) or not 0 < len(kind) <= 64:
        problem = ("invalid_kind", "kind must be a string of 1-64 characters")
    elif not isinstance(seq, int) or seq < 1 or not isinstance(ver, int) or ver < 1:
        problem = ("invalid_seq", "seq and schema_version must be positive integers")
    elif not isinstance(payload, dict):
        problem = ("invalid_payload", "payload must be a JSON object")
    elif kind in reject_kinds:
        problem = ("unsupported_kind", f"this cloud does not accept events of kind {kind!r}")
    if problem is None:
        try:
            created = datetime.fromisoformat(str(raw.get("created_at", "")).replace("Z", "+00:00"))
            if created.tzinfo is None:
                raise ValueError("naive")
        except ValueError:
            problem = ("invalid_created_at", "created_at must be an RFC 3339 timestamp with offset")
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False) if problem is None else ""
    if problem is None and "\\u0000" in body:
        problem = ("invalid_payload", "payload text may not contain NUL characters")
    if problem is not None:
        return None, {"event_id": eid, "code": problem[0], "reason": problem[1], "status": 422}
    return pgstore.Event(eid, stream, seq, kind, ver, created, body), None  # type: ignore[arg-type]


def create_app(
    dsn: str,
    tokens: dict[str, str],
    admin_token: str | None = None,
    faults: bool = False,
    initial_faults: dict[str, Any] | None = None,
) -> FastAPI:
    pool = pgstore.Pool(dsn)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(pgstore.create_schema, pool)
        yield
        pool.close()

    app = FastAPI(title="retail-edge reference cloud receiver", version="1", lifespan=lifespan)
    fx = Faults()
    if faults and initial_faults:
        fx.set(initial_faults)  # e.g. come back from an outage still answering 500s
    app.state.pool = pool
    app.state.faults = fx
    master = keys.master_key(os.environ.get("CLOUD_RECEIVER_MASTER_KEY"))

    def store_for(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        for store, expected in tokens.items():
            if token and hmac.compare_digest(token, expected):
                return store
        return None

    async def apply_fault(cfg: FaultConfig | None) -> Response | None:
        if cfg is None:
            return None
        if cfg.mode == "error":
            return error(500, "internal", "fault injection: internal error", cfg.retry_after)
        if cfg.mode == "unavailable":
            return error(503, "unavailable", "fault injection: try later", cfg.retry_after)
        if cfg.mode == "timeout":
            await asyncio.sleep(cfg.delay_s or 3600)
            return error(504, "timeout", "fault injection: gave up")
        if cfg.mode == "slow":
            await asyncio.sleep(cfg.delay_s)
        return None

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.post("/v1/ingest/batches")
    async def ingest(request: Request) -> Response:
        st = fx.stats
        st.requests += 1
        st.in_flight += 1
        st.max_in_flight = max(st.max_in_flight, st.in_flight)
        try:
            cfg = fx.take(request.url.path) if faults else None
            early = await apply_fault(cfg)
            if early is not None:
                return early
            store = store_for(request)
            if store is None:
                return error(401, "unauthorized", "missing or unknown store token")
            raw = await request.body()
            if len(raw) > MAX_BODY:
                return error(413, "batch_too_large", f"batch body over {MAX_BODY} bytes; send fewer events")
            try:
                body = json.loads(raw)
            except ValueError:
                return error(400, "invalid_json", "the body is not valid JSON")
            if not isinstance(body, dict) or not isinstance(body.get("events"), list):
                return error(422, "invalid_batch", "the body must be an object with an events array")
            if body.get("store_id") != store:
                return error(403, "wrong_store", "this token belongs to another store")
            if len(body["events"]) > MAX_EVENTS:
                return error(413, "batch_too_large", f"at most {MAX_EVENTS} events per batch")
            reject_kinds = fx.config.reject_kinds if faults else []
            events, rejected, seen = [], [], set()
            for item in body["events"]:
                ev, rej = validate_event(item, reject_kinds)
                if rej is not None:
                    rejected.append(rej)
                elif ev is not None and ev.event_id not in seen:
                    seen.add(ev.event_id)
                    events.append(ev)
            new_ids = await run_in_threadpool(pgstore.store_batch, pool, store, events)
            st.committed_batches += 1
            if cfg is not None and cfg.mode == "hang_after_commit":
                await asyncio.sleep(cfg.delay_s or 3600)  # committed, but the edge never hears it
            dup = [e.event_id for e in events if e.event_id not in new_ids]
            st.stored += len(new_ids)
            st.duplicates += len(dup)
            st.rejected += len(rejected)
            return JSONResponse(
                {
                    "batch_id": body.get("batch_id"),
                    "accepted": sorted(new_ids),
                    "duplicates": dup,
                    "rejected": rejected,
                }
            )
        finally:
            st.in_flight -= 1

    async def _checked(request: Request, check: Any, code: str) -> tuple[str, Any] | Response:
        """(the calling store, its checked body), or the 401 / 422 to answer."""
        store = store_for(request)
        if store is None:
            return error(401, "unauthorized", "missing or unknown store token")
        checked = check(await _json(request))
        if isinstance(checked, str):
            return error(422, code, checked)
        return store, checked

    def _admin(request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        if not admin_token or not hmac.compare_digest(auth.removeprefix("Bearer ").strip(), admin_token):
            return error(401, "unauthorized", "admin token required")
        return None

    async def _in_db(fn: Any, *args: Any) -> Any:
        """`fn(conn, *args)` on a pooled connection, off the event loop."""

        def run() -> Any:
            with pool.connection() as conn:
                return fn(conn, *args)

        return await run_in_threadpool(run)

    @app.post("/v1/coupons/reserve")
    async def reserve_coupons(request: Request) -> Response:
        """Reserve a cart's coupon uses for one checkout, all or none (cloud/coupons.py)."""
        early = await apply_fault(fx.take(request.url.path) if faults else None)
        if early is not None:
            return early
        got = await _checked(request, coupons.check_uses, "invalid_reservation")
        if isinstance(got, Response):
            return got
        store, (holder, uses, ttl) = got
        taken = await _in_db(coupons.reserve, store, holder, uses, ttl)
        if taken is not None:
            return JSONResponse(
                {"code": "coupon_used", "message": "this coupon has already been used", "use_key": taken}, 409
            )
        return JSONResponse({"reserved": [k for k, _ in uses], "holder": holder})

    async def _keys_call(request: Request, call: Any) -> Response:
        got = await _checked(request, coupons.check_keys, "invalid_request")
        if isinstance(got, Response):
            return got
        store, (holder, keys, order) = got
        return JSONResponse({"changed": int(await _in_db(call, store, holder, keys, order))})

    @app.post("/v1/coupons/release")
    async def release_coupons(request: Request) -> Response:
        """Free a checkout's reservations (its payment failed)."""
        return await _keys_call(request, lambda conn, st, h, k, _o: coupons.release(conn, st, h, k))

    @app.post("/v1/coupons/commit")
    async def commit_coupons(request: Request) -> Response:
        """A checkout's reservations are redeemed by its order (the order's event says so again later)."""
        return await _keys_call(request, members.commit_redeemed)

    @app.get("/v1/admin/coupons/over-uses")
    async def coupon_over_uses(request: Request) -> Response:
        """The reconciliation report: every use of a coupon beyond what it allows, with where it happened."""
        denied = _admin(request)
        if denied is not None:
            return denied
        return JSONResponse({"over_uses": await _in_db(coupons.over_uses)})

    def _no_keys() -> Response:
        return error(503, "keys_not_configured", "this cloud has no master key (CLOUD_RECEIVER_MASTER_KEY)")

    @app.put("/v1/boxes/{box_id}/key")
    async def register_box(box_id: str, request: Request) -> Response:
        """A box's X25519 public key, which every key delivered to it is sealed to (cloud/keys.py)."""
        if not keys.BOX_ID.match(box_id):
            return error(422, "invalid_box", "the box id is 1-40 letters, digits, '-' or '_'")
        got = await _checked(request, keys.check_public_key, "invalid_public_key")
        if isinstance(got, Response):
            return got
        await _in_db(keys.register, got[0], box_id, got[1])
        return Response(status_code=204)

    @app.get("/v1/boxes/{box_id}/keys")
    async def box_keys(box_id: str, request: Request) -> Response:
        """The chain's and the box's store's key rings, each key sealed to the box's public key."""
        store = store_for(request)
        if store is None:
            return error(401, "unauthorized", "missing or unknown store token")
        if master is None:
            return _no_keys()
        rings = await _in_db(keys.rings_for, master, store, box_id)
        if rings is None:
            return error(404, "box_unknown", "register this box's public key first (PUT /v1/boxes/{box}/key)")
        body = {"store_id": store, "box_id": box_id, "rings": rings}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.post("/v1/admin/keys/{action}")
    async def ring_admin(action: str, request: Request) -> Response:
        """rotate: a new active key (older ones verify until retired); retire: drop all but the active."""
        denied = _admin(request)
        if denied is not None:
            return denied
        if action not in ("rotate", "retire"):
            return error(404, "unknown_action", "the actions are rotate and retire")
        if master is None:
            return _no_keys()
        ring = keys.check_ring(await _json(request))
        if isinstance(ring, str):
            return error(422, "invalid_ring", ring)
        if action == "rotate":
            return JSONResponse({"active": await _in_db(keys.rotate, master, *ring)})
        return JSONResponse({"retired": await _in_db(keys.retire, *ring)})

    app.include_router(member_routes(pool, _admin, master))

    @app.get("/v1/stores/{store_id}/changes")
    async def changes(store_id: str, request: Request, after: int = 0, limit: int = 20) -> Response:
        cfg = fx.take(request.url.path) if faults else None
        early = await apply_fault(cfg)
        if early is not None:
            return early
        if store_for(request) != store_id:
            return error(401, "unauthorized", "missing or unknown store token for this store")
        limit = max(1, min(limit, 100))
        items, cursor, more, latest = await run_in_threadpool(pgstore.changes_after, pool, store_id, after, limit)
        etag = f'"{store_id}:{after}:{latest}"'
        if not items and request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return JSONResponse({"changes": items, "cursor": cursor, "more": more}, headers={"ETag": etag})

    @app.post("/v1/admin/downsync")
    async def publish(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not admin_token or not hmac.compare_digest(auth, f"Bearer {admin_token}"):
            return error(401, "unauthorized", "admin token required")
        body = await request.json()
        kind = body.get("kind")
        if kind not in DOWNSYNC_KINDS or not isinstance(body.get("items"), list):
            return error(422, "invalid_version", f"kind must be one of {sorted(DOWNSYNC_KINDS)} with an items list")
        version = await run_in_threadpool(pgstore.publish_version, pool, kind, body["items"], body.get("store_id"))
        return JSONResponse({"version": version}, status_code=201)

    if faults:

        @app.post("/_faults")
        async def set_faults(request: Request) -> dict[str, Any]:
            fx.set(await request.json())
            return fx.snapshot()

        @app.get("/_faults")
        def get_faults() -> dict[str, Any]:
            return fx.snapshot()

        app.add_middleware(DropMiddleware, faults=fx)  # type: ignore[arg-type]

    app.state.started = time.time()
    return app


def main(argv: list[str] | None = None) -> int:
    import argparse
    from pathlib import Path

    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsn", default=os.environ.get("CLOUD_RECEIVER_DSN", "postgresql://postgres@127.0.0.1/postgres"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8700)
    ap.add_argument("--tokens-file", type=Path, help="store=token lines (else CLOUD_RECEIVER_TOKENS)")
    ap.add_argument("--faults", action="store_true", help="mount /_faults for fault injection (tests only)")
    ap.add_argument("--faults-json", default="", help="initial fault config (JSON) with --faults")
    args = ap.parse_args(argv)
    tokens = parse_tokens(
        args.tokens_file.read_text() if args.tokens_file else os.environ.get("CLOUD_RECEIVER_TOKENS", "")
    )
    if not tokens:
        ap.error("no store tokens: set CLOUD_RECEIVER_TOKENS=store=token or --tokens-file")
    initial = json.loads(args.faults_json) if args.faults_json else None
    app = create_app(args.dsn, tokens, os.environ.get("CLOUD_RECEIVER_ADMIN_TOKEN"), args.faults, initial)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    return 0
