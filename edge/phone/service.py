"""The phone's shopping visit: entering with the store code, its cart, its frames, paying, leaving.

Everything about the cart is checkout's (the `shopping` contract) and everything about reading
codes is scanning's (the `frames` contract): this domain binds a phone to a cart, limits what one
phone or one address may ask, and turns the frames a page sends into cart changes.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from typing import Any

from prometheus_client import Counter, Histogram

from edge.checkout.contract import ShopperCarts
from edge.phone.codes import EntryCodes, PhoneCookies
from edge.phone.limits import Buckets
from edge.phone.settings import PhoneSettings
from edge.platform.context import Registry, need
from edge.platform.errors import EdgeError, Unauthorized
from edge.scanning.contract import FrameReader

log = logging.getLogger(__name__)

FRAMES = Counter("edge_phone_frames_total", "Frames phones sent, by outcome", ["outcome"])
FRAME_SECONDS = Histogram(
    "edge_phone_frame_seconds", "A phone frame, request in to answer out (decode and cart change)",
    buckets=(0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0),
)  # fmt: skip
STAGE_SECONDS = Histogram(
    "edge_phone_frame_stage_seconds",
    "A phone frame's stages: `read` (decode slot, image, decoders), `cart` (the adds it confirmed)",
    ["stage"], buckets=(0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0),
)  # fmt: skip
READS = Counter("edge_phone_reads_total", "Codes confirmed in phone frames, by what they did", ["result"])


class PhoneService:
    def __init__(
        self, services: Registry, entry: EntryCodes, cookies: PhoneCookies, cfg: PhoneSettings, store_name: str
    ) -> None:
        self.services = services
        self.entry = entry
        self.cookies = cookies
        self.cfg = cfg
        self.store_name = store_name
        self.frame_limit = Buckets(
            "frames", cfg.frames_per_s, cfg.frames_per_s * 2, "this phone is sending frames too fast; slow down"
        )
        self.add_limit = Buckets(
            "scans", cfg.adds_per_minute / 60, max(cfg.adds_per_minute / 3, 1),
            "too many scans from this phone in a minute; wait a moment, or ask a member of staff",
        )  # fmt: skip
        self.entry_limit = Buckets(
            "entries", cfg.entries_per_minute / 60, cfg.entries_per_minute,
            "too many new carts from this network in a minute; wait a moment",
        )  # fmt: skip

    def carts(self) -> ShopperCarts:
        return need(self.services.shopping, "checkout")

    def frames(self) -> FrameReader:
        return need(self.services.frames, "scanning")

    # --- entering -------------------------------------------------------------------------
    def enter(self, code: str, cookie: str | None, address: str) -> str | None:
        """Check the entry code; a new cookie value when this phone has none (None: keep its own)."""
        self.entry.verify(code)
        if self.cookies.owner(cookie) is not None:
            return None
        self.entry_limit.take(address)
        return self.cookies.issue()[1]

    def owner(self, cookie: str | None) -> str:
        owner = self.cookies.owner(cookie)
        if owner is None:
            raise Unauthorized(
                "this phone has no shopping session; scan the QR code at the store entrance", code="no_phone_session"
            )
        return owner

    def state(self, owner: str) -> dict[str, Any]:
        out = self.carts().resume(owner)
        return {**out, "pay_options": self.carts().pay_options(), "store": self.store_name}

    # --- scanning -------------------------------------------------------------------------
    def frame(
        self, owner: str, session_id: str, data: bytes, t_ms: float | None, frame_id: str | None
    ) -> dict[str, Any]:
        """Decode one frame; each code it confirms goes into the cart (once per frame id and code)."""
        self.frame_limit.take(owner)
        with FRAME_SECONDS.time():
            try:
                with STAGE_SECONDS.labels("read").time():
                    read = self.frames().read_frame(owner, data, t_ms, frame_id)
            except EdgeError as exc:
                FRAMES.labels(exc.code).inc()
                raise
            t_cart = time.perf_counter()
            FRAMES.labels("repeated" if read.repeated else "codes" if read.seen else "empty").inc()
            results: list[dict[str, Any]] = []
            cart: dict[str, Any] | None = None
            alerts: list[dict[str, str]] = []
            for code in read.codes:
                shown = code.text[:120]
                try:
                    self.add_limit.take(owner)
                    out = self.carts().add_scan(session_id, owner, code.text, code.facts, _scan_id(frame_id, code.text))
                except EdgeError as exc:
                    READS.labels("refused").inc()
                    refused = {"text": shown, "ok": False, "code": exc.code, "message": exc.message}
                    if isinstance(exc.details.get("name"), str):  # a known product refused (expired, recalled)
                        refused["name"] = exc.details["name"]
                    results.append(refused)
                    continue
                added = out.get("added") or {}
                result = "duplicate" if added.get("source") == "duplicate" else out.get("attached") or "added"
                READS.labels(result).inc()
                results.append({"text": shown, "ok": True, "result": result, "item": added or None})
                cart, alerts = out["cart"], [*alerts, *out.get("alerts", [])]
            if read.codes:
                STAGE_SECONDS.labels("cart").observe(time.perf_counter() - t_cart)
        return {"reads": results, "seen": read.seen, "decode_ms": read.decode_ms, "cart": cart, "alerts": alerts}

    def add_typed(self, owner: str, session_id: str, code: str, qty: int, scan_id: str) -> dict[str, Any]:
        self.add_limit.take(owner)
        return self.carts().add_typed(session_id, owner, code, qty, scan_id)

    def set_qty(self, owner: str, session_id: str, line_id: int, qty: int) -> dict[str, Any]:
        self.add_limit.take(owner)
        return self.carts().set_qty(session_id, owner, line_id, qty)


def _scan_id(frame_id: str | None, text: str) -> str:
    """One add per code per frame: a resent frame (its answer lost) adds nothing twice."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"f:{frame_id or uuid.uuid4().hex}:{digest}"[:64]
