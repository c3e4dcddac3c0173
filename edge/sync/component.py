"""Cloud sync in the composition root: the uploader and down-sync threads, health and routes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from edge.platform.context import Component, Context
from edge.platform.observability import ComponentHealth
from edge.sync.coupons import CloudCoupons
from edge.sync.downsync import DownSync
from edge.sync.keys import KeyDelivery
from edge.sync.service import SyncService
from edge.sync.uploader import Uploader

if TYPE_CHECKING:
    from fastapi import APIRouter


class SyncComponent(Component):
    name = "sync"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        s = ctx.settings

        def token() -> str | None:
            return ctx.secrets.get("sync_token")

        self.uploader: Uploader | None = None
        self.downsync: DownSync | None = None
        if s.sync.url:
            self.uploader = Uploader(ctx.store, s.sync, s.store.id, s.store.node, token)
            if s.sync.downsync_enabled:
                self.downsync = DownSync(ctx, s.sync, token)
        self.keys = KeyDelivery(ctx.secrets, s.sync, s.store.node, token) if s.sync.url and s.sync.cloud_keys else None
        self.service = ctx.keep(SyncService(ctx.store, s.sync, self.uploader, self.downsync))
        ctx.services.downsync = self.downsync
        self.coupons = CloudCoupons(s.sync, token) if s.sync.url else None
        ctx.services.coupons = self.coupons

    async def start(self) -> None:
        # Threads, not tasks: SQLite and HTTP calls here block, and must never stall the loop.
        if self.uploader:
            self.uploader.start()
        if self.downsync:
            self.downsync.start()
        if self.keys:
            self.keys.start()

    async def stop(self) -> None:
        # Nothing is lost by stopping mid-batch: rows are marked sent only after the cloud's answer.
        if self.downsync:
            await asyncio.to_thread(self.downsync.stop)
        if self.uploader:
            await asyncio.to_thread(self.uploader.stop)
        if self.keys:
            await asyncio.to_thread(self.keys.stop)
        if self.coupons:
            self.coupons.close()

    def health(self) -> dict[str, ComponentHealth]:
        status, reason, details = self.service.health()
        if self.keys:
            last = self.keys.status()
            details = {**details, "keys": {**last, "fetched_at": str(last["fetched_at"] or "")}}
        return {"sync": ComponentHealth(status=status, reason=reason, details=details)}  # type: ignore[arg-type]

    def routers(self) -> list[APIRouter]:
        from edge.sync.router import router

        return [router]


def build(ctx: Context) -> Component:
    return SyncComponent(ctx)
