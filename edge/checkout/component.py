"""The checkout domain in the composition root: catalog, carts, payments, passes, gate."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from edge.checkout import cartrows, wallets
from edge.checkout.aftersale import AfterSale
from edge.checkout.catalog import Catalog
from edge.checkout.downsync import catalog_appliers
from edge.checkout.inapp import InAppPay
from edge.checkout.ledger import Ledger
from edge.checkout.orders import Checkout
from edge.checkout.passes import Gate
from edge.checkout.payments import SANDBOX_DB, PaymentProvider, SandboxNetwork
from edge.checkout.providers import FaceProvider, FaceRailProvider, QrProvider, SandboxProvider
from edge.checkout.railsetup import build_rails, production_problem
from edge.checkout.service import CheckoutServices
from edge.checkout.sessions import Sessions
from edge.checkout.settings import CheckoutConfig
from edge.checkout.shelf import recall_state
from edge.checkout.shopper import PhoneCarts
from edge.checkout.tasks import StaffTasks
from edge.platform.codes import Codes
from edge.platform.context import Component, Context
from edge.platform.errors import StartupRefused
from edge.platform.observability import ComponentHealth
from edge.platform.worker import Worker
from edge.scanning.events import ScanEvent

if TYPE_CHECKING:
    from fastapi import APIRouter

log = logging.getLogger(__name__)


class CheckoutComponent(Component):
    name = "checkout"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        cfg = ctx.settings.checkout
        conf = CheckoutConfig(store=ctx.settings.store, checkout=cfg)
        reg = ctx.services
        self.catalog = Catalog(ctx.store, ctx.settings.store.timezone)
        codes = Codes(ctx.secrets, ctx.settings.store.node)
        sessions = Sessions(conf, ctx.store, ctx.bus, self.catalog, codes, lambda: reg.codes)
        network = SandboxNetwork(ctx.settings.storage.data_dir / SANDBOX_DB) if cfg.mode == "sandbox" else None
        providers: dict[str, PaymentProvider] = {
            "sandbox": SandboxProvider(network),
            "qr": QrProvider(network if cfg.qr_acquirer == "sandbox" else None),
            "face": FaceProvider(network, lambda: reg.facepay, sessions, self._agreement),
        }
        problem = production_problem(cfg, ctx.secrets, any(c.role == "kiosk" for c in ctx.settings.cameras))
        if problem:
            raise StartupRefused(problem)
        # Always built when ready, whatever qr_acquirer says: recovery must reach an open intent's rail.
        rails = build_rails(cfg, ctx.secrets, ctx.settings.store.name)
        face = providers["face"]
        assert isinstance(face, FaceProvider)
        face.rails = set(rails)
        for rail in rails.values():
            rail.on_waiting = sessions.payment_waiting
            providers[f"face-{rail.name}"] = FaceRailProvider(face, rail)
        providers.update(rails)
        self.services = ctx.keep(
            CheckoutServices(
                store=ctx.store,
                services=reg,
                catalog=self.catalog,
                codes=codes,
                sessions=sessions,
                checkout=Checkout(conf, ctx.store, ctx.bus, sessions, codes, providers),
                gate=Gate(conf, ctx.store, ctx.bus, codes, ctx.secrets),
                aftersale=AfterSale(conf, ctx.store, codes, providers, sessions.locks),
            )
        )
        self.services.aftersale.revoke_at_gate = self.services.gate.revoke_at_gate_box
        self.services.checkout.coupons = lambda: reg.coupons  # the chain's coupon authority (sync), if any
        self.services.checkout.tryons = lambda: reg.tryons  # fitting's try-ons: guides' credit, if any
        self.inapp = ctx.keep(InAppPay(conf, ctx.store, ctx.bus, self.services.checkout))
        self.tasks = ctx.keep(StaffTasks(conf, ctx.store, ctx.bus, sessions))
        reg.shopping = PhoneCarts(self.services, self.inapp, self.tasks)
        reg.catalog, reg.carts, reg.sales = self.catalog, sessions, Ledger(ctx.store)

        if reg.downsync is not None:  # the catalog, prices and promotions the cloud sends down
            kinds = catalog_appliers(ctx.store, ctx.settings.store.currency) | wallets.appliers(ctx.store)
            for kind, applier in kinds.items():
                reg.downsync.register(kind, applier)
        self.housekeeper = Worker("checkout-housekeeping", self._housekeeping_loop)
        self.recovered: dict[str, int] = {}

    def _agreement(self, member_id: str) -> tuple[str, str] | None:
        with self.ctx.store.read() as s:
            return cartrows.member_agreement(s, member_id)

    async def start(self) -> None:
        inapp = await asyncio.to_thread(self.inapp.sweep)  # wallet orders first: recovery leaves them alone
        self.recovered = await asyncio.to_thread(self.services.checkout.capturer.recover)
        self.recovered["inapp"] = inapp
        self.recovered["refunds"] = await asyncio.to_thread(self.services.aftersale.recover_pending)
        self.services.checkout.capturer.start()
        if any(self.recovered.values()):
            log.warning("checkout recovery after restart: %s", self.recovered)
        self.ctx.bus.subscribe(ScanEvent, self._on_scan)
        self.housekeeper.start()

    async def _on_scan(self, ev: ScanEvent) -> None:
        if ev.role == "kiosk" and ev.target:
            await asyncio.to_thread(self.services.on_kiosk_scan, ev.target, ev.text, ev.gs1)
        elif ev.role == "exit_gate" and ev.target:
            await asyncio.to_thread(self.services.on_gate_scan, ev.target, ev.text)

    def _housekeeping_loop(self, w: Worker) -> None:
        cfg = self.ctx.settings.checkout
        while not w.sleep(min(30, cfg.session_idle_s / 4, cfg.task_escalate_s / 4)):
            try:
                self.housekeeping()
            except Exception:
                log.exception("checkout housekeeping failed")

    def housekeeping(self) -> dict[str, int]:
        """Every ~30 s: expire idle carts, retry failed captures, reverse holds that never got an order
        (older than `checkout.orphan_hold_after_s`, no checkout of that cart in flight) and finish
        refunds and voids left pending."""
        cfg = self.ctx.settings.checkout
        expired = self.services.sessions.expire_idle()
        inapp = self.inapp.sweep()
        done = self.services.checkout.capturer.recover(False, 30.0, orphan_age_s=cfg.orphan_hold_after_s)
        refunds = self.services.aftersale.recover_pending(min_age_s=30.0)
        escalated = self.tasks.escalate_due()
        return {"expired": expired, **done, "refunds": refunds, "inapp": inapp, "escalated": escalated}

    async def stop(self) -> None:
        self.ctx.bus.unsubscribe(ScanEvent, self._on_scan)
        await asyncio.to_thread(self.services.checkout.capturer.stop)
        await asyncio.to_thread(self.housekeeper.stop, 3.0)

    def health(self) -> dict[str, ComponentHealth]:
        cfg = self.ctx.settings.checkout
        counts = self.catalog.counts()
        if counts["products"] == 0:
            return {"checkout": ComponentHealth(status="degraded", reason="the catalog is empty; import products")}
        recalls = recall_state(self.ctx.store)
        return {
            "checkout": ComponentHealth(
                status="ok",
                reason=f"{counts['products']} products, payments: {cfg.mode}, QR: {cfg.qr_acquirer}",
                details={"catalog_version": counts["version"], "recalls": recalls},
            )
        }

    def routers(self) -> list[APIRouter]:
        from edge.checkout import router, router_pay, router_peer, router_staff

        return [*router.ROUTERS, *router_pay.ROUTERS, *router_staff.ROUTERS, *router_peer.ROUTERS]


def build(ctx: Context) -> Component:
    return CheckoutComponent(ctx)
