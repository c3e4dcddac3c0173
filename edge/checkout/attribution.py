"""Which guide a sale gives credit to, decided when the order is written (edge.fitting.credit
explains the two ways). The rows commit with the order, and travel to the cloud in its
`order.paid` event, where a sale in another store of the chain credits a guide by their code
too (the code says which store the guide works in). A member served by a guide (`served`) is
credited to that guide by the cloud when they buy without a guide later, in any store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edge.checkout.models import Attribution, KioskSession
from edge.checkout.priced import PricedCart
from edge.checkout.settings import CheckoutConfig
from edge.fitting.contract import TryOns
from edge.platform.store import Tx
from edge.platform.timeutil import utcnow


def window_start(settings: CheckoutConfig, now: datetime | None = None) -> datetime:
    """The earliest try-on that still counts: the store's midnight by default, else N hours back."""
    now = now or utcnow()
    hours = settings.checkout.attribution_window_h
    if hours:
        return now - timedelta(hours=hours)
    local = now.astimezone(ZoneInfo(settings.store.timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def credit(
    ks: KioskSession,
    priced: PricedCart,
    order_id: str,
    settings: CheckoutConfig,
    tryons: TryOns | None,
    style_of: Callable[[str], str],
) -> list[Attribution]:
    """The order's attribution rows: every line for the guide whose code the cart scanned; else
    each line whose item was tried on within the window (its guide, or none)."""
    lines = list(enumerate(priced.lines, start=1))
    chosen: dict[int, tuple[str | None, str, str]]
    if ks.guide_id:
        chosen = {n: (ks.guide_id, ks.guide_store or "", "code") for n, _pl in lines}
    else:
        tried = tryons.tried_since([pl.gtin for _n, pl in lines], window_start(settings)) if tryons else {}
        chosen = {
            n: (tried[pl.gtin], settings.store.id if tried[pl.gtin] else "", "fitting")
            for n, pl in lines
            if pl.gtin in tried
        }
    return [
        Attribution(order_id=order_id, line_no=n, gtin=pl.gtin, style=style_of(pl.gtin)[:64], qty=pl.qty,
                    net_minor=pl.net_minor, guide_id=chosen[n][0], guide_store=chosen[n][1], via=chosen[n][2])
        for n, pl in lines
        if n in chosen
    ]  # fmt: skip


def served(s: Tx, ks: KioskSession, store_id: str) -> None:
    """A member proven by their code, and a guide's code, in one cart: tell the cloud this guide
    served this member (`guide.served`), so that the member's purchase elsewhere in the chain, or
    later, still credits the guide (cloud/guides.py), even if this cart is never paid."""
    if ks.guide_id and ks.member_id and ks.member_via == "code":
        s.outbox("orders", "guide.served", {"member_id": ks.member_id, "guide_id": ks.guide_id,
                                            "guide_store": ks.guide_store or "", "store_id": store_id,
                                            "session_id": ks.id, "at": utcnow().isoformat()})  # fmt: skip


def event_fields(rows: list[Attribution]) -> list[dict[str, Any]]:
    """The attribution as the order's `order.paid` event carries it to the cloud."""
    return [
        {"line_no": a.line_no, "gtin": a.gtin, "style": a.style, "qty": a.qty, "net_minor": a.net_minor,
         "guide_id": a.guide_id, "guide_store": a.guide_store, "via": a.via}
        for a in rows
    ]  # fmt: skip
