"""Composition root: prepares storage, builds every domain, starts them in order, stops in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Callable, Iterator

from fastapi import FastAPI

from edge.bus import Bus
from edge.config import Settings
from edge.platform.checkpoint import WalCheckpointer
from edge.platform.context import Component, Context
from edge.platform.errors import StartupRefused
from edge.platform.observability import ComponentHealth, sd_notify, watchdog_interval_s
from edge.platform.schema import check_data_dir
from edge.platform.security import SecretStore
from edge.platform.store import Store

log = logging.getLogger(__name__)

STOP_DEADLINE_S = 8.0  # the whole stop fits inside systemd's and the 10 s


class DatabaseComponent(Component):
    name = "db"

    def __init__(self, store: Store, min_free_mb: int) -> None:
        self.store = store
        self.min_free_mb = min_free_mb
        self.checkpointer = WalCheckpointer(store.path)

    async def start(self) -> None:
        self.store.set_background_checkpoints(True)
        self.checkpointer.start()

    async def stop(self) -> None:
        self.checkpointer.stop()
        self.store.set_background_checkpoints(False)

    def health(self) -> dict[str, ComponentHealth]:
        """Down when the file cannot be read or the last write failed (a full disk, a damaged
        file) and none has succeeded since; degraded when free space is under storage.min_free_mb."""
        faults = self.store.faults.snapshot(self.store.path.parent)
        try:
            self.store.ping()
        except Exception as exc:
            return {"db": ComponentHealth(status="down", reason=str(exc)[:200], required=True, details=faults)}
        last = faults["last_write_failure"]
        if faults["writes_failing"] and last is not None:
            reason = f"writes are failing ({last['code']} since {last['at']}): {last['message']}"
            return {"db": ComponentHealth(status="down", reason=reason[:200], required=True, details=faults)}
        free = faults["free_bytes"]
        if free is not None and free < self.min_free_mb * 1024 * 1024:
            mb = free // (1024 * 1024)
            reason = f"{mb} MB free on the data disk (under storage.min_free_mb = {self.min_free_mb})"
            return {"db": ComponentHealth(status="degraded", reason=reason, required=True, details=faults)}
        return {"db": ComponentHealth(status="ok", reason=str(self.store.path), required=True, details=faults)}


def prepare_storage(settings: Settings) -> Store:
    """Check the data dir, back up and migrate. Raises StartupRefused with a sentence."""
    check_data_dir(settings.storage.data_dir, settings.storage.min_free_mb)
    store = Store.in_dir(settings.storage.data_dir, settings.storage.busy_timeout_ms)
    applied = store.migrate(settings.storage.backups_keep)
    if applied:
        log.info("database migrated to %s", ", ".join(applied))
    return store


def build_context(settings: Settings, store: Store) -> Context:
    return Context(settings=settings, store=store, bus=Bus(), secrets=SecretStore(settings.storage.data_dir))


def build_components(ctx: Context) -> list[Component]:
    """Build order is start order: storage, access, messaging and sync (whose registry slots the
    domains after them fill or read), the domains, and last the sensors that feed them, so
    every consumer is subscribed on the bus before the first scan arrives."""
    from edge.access.component import build as access
    from edge.cameras.component import build as cameras
    from edge.checkout.component import build as checkout
    from edge.facepay.component import build as facepay
    from edge.fitting.component import build as fitting
    from edge.mqtt.component import build as mqtt
    from edge.phone.component import build as phone
    from edge.scanning.component import build as scanning
    from edge.sync.component import build as sync
    from edge.ui.component import build as ui

    comps: list[Component] = [DatabaseComponent(ctx.store, ctx.settings.storage.min_free_mb)]
    for factory in (access, mqtt, sync, facepay, checkout, fitting, phone, scanning, cameras, ui):
        comps.append(factory(ctx))
    return comps


class Daemon:
    """Owns the components; the FastAPI lifespan drives start and stop, and the server calls
    `serving()` once it listens."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or prepare_storage(settings)
        self.ctx = build_context(settings, self.store)
        self.components = build_components(self.ctx)
        self.started: list[Component] = []
        self._watchdog: asyncio.Task[None] | None = None

    def health(self) -> dict[str, ComponentHealth]:
        out: dict[str, ComponentHealth] = {}
        for comp in self.components:
            try:
                out.update(comp.health())
            except Exception as exc:
                out[comp.name] = ComponentHealth(status="down", reason=f"health check failed: {exc}"[:200])
        return out

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.ctx.loop = loop
        self.ctx.bus.bind(loop)
        for comp in self.components:
            t0 = time.monotonic()
            try:
                await asyncio.wait_for(comp.start(), timeout=30)
            except Exception:
                # A domain that fails to start reports itself down; the rest of the store keeps working.
                log.exception("component %s failed to start", comp.name)
                continue
            self.started.append(comp)
            log.debug("started %s in %.0f ms", comp.name, (time.monotonic() - t0) * 1000)
        # What exists now (modules, ORM mappers, model sessions) lives as long as the process:
        # moved out of the collector's sight, full collections stay short on the request path.
        gc.freeze()

    def serving(self) -> None:
        """Called on the loop once the HTTP port is bound: only now is the daemon ready for
        systemd (a unit ordered After= us may call /healthz at once) and the watchdog starts."""
        sd_notify("READY=1")
        interval = watchdog_interval_s()
        if interval and self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._ping_watchdog(interval))
        log.info("retail-edge ready on http://%s:%s", self.settings.http.host, self.settings.http.port)

    async def _ping_watchdog(self, interval: float) -> None:
        # Pinged from the loop itself: a wedged loop stops the pings and systemd restarts us.
        while True:
            sd_notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        sd_notify("STOPPING=1")
        if self._watchdog:
            self._watchdog.cancel()
            self._watchdog = None
        deadline = time.monotonic() + STOP_DEADLINE_S
        for comp in reversed(self.started):
            left = max(0.5, deadline - time.monotonic())
            try:
                await asyncio.wait_for(comp.stop(), timeout=left)
            except Exception:
                log.exception("component %s did not stop cleanly", comp.name)
        self.started.clear()
        self.ctx.bus.unbind()
        self.store.dispose()
        log.info("retail-edge stopped")

    def create_app(self) -> FastAPI:
        from edge.api.factory import create_app

        return create_app(self)


def run_daemon(settings: Settings) -> int:
    """Serve until SIGTERM/SIGINT, then stop everything in reverse order and return 0."""
    import uvicorn

    from edge.api.server import BoundedHttpTools

    tls: dict[str, str] = {}
    if settings.http.tls:
        secrets_dir = SecretStore(settings.storage.data_dir).dir
        cert, key = secrets_dir / "tls_cert.pem", secrets_dir / "tls_key.pem"
        missing = [p.name for p in (cert, key) if not p.is_file()]
        if missing:
            raise StartupRefused(f"http.tls is on but {' and '.join(missing)} is missing from {secrets_dir}")
        tls = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    daemon = Daemon(settings)
    app = daemon.create_app()
    config = uvicorn.Config(
        app,
        host=settings.http.host,
        port=settings.http.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
        lifespan="on",
        http=BoundedHttpTools,
        **tls,  # type: ignore[arg-type]
    )
    server = _Server(config, on_listening=daemon.serving)
    asyncio.run(server.serve())
    return 0 if not server.startup_failed else 1


class _Server:
    """uvicorn.Server that exits 0 on SIGTERM (uvicorn re-raises the signal, which exits 143)."""

    def __init__(self, config: object, on_listening: Callable[[], None]) -> None:
        import socket

        import uvicorn

        class Quiet(uvicorn.Server):
            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                # The lifespan (Daemon.start) runs first, then the port is bound: READY=1 after both.
                await super().startup(sockets)
                if self.started and not self.should_exit:
                    on_listening()

            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                handler: Callable[[int, object], None] = lambda _s, _f: setattr(self, "should_exit", True)  # noqa: E731
                old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
                try:
                    yield
                finally:
                    for sig, h in old.items():
                        signal.signal(sig, h)

        self._server = Quiet(config)  # type: ignore[arg-type]
        self.startup_failed = False

    async def serve(self) -> None:
        await self._server.serve()
        self.startup_failed = not self._server.started
