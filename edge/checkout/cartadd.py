"""Adding an item to a cart: decided in a read, written in one short write.

Every scan of every kiosk camera and every phone lands here, and the store has one write slot,
shared with payments, gate checks and new carts. A slot holder that runs eight statements waits
for the GIL between each of them while the decoders and the HTTP stack run, so under load the
add held the slot for about 11 ms and the queue behind it grew to hundreds of ms. So everything
the add decides on (the cart, the product, a recall, the line it changes, a resent scan id) is
read before the slot is taken, and the write holds only the change: the scan id, the line and the
cart's new version. The cart's lock keeps this box's other changes out meanwhile; the version
guard catches the rest (the idle sweep), and the add is then decided again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from edge.checkout import cartrows, shelf, tasks
from edge.checkout.models import KioskSession
from edge.checkout.shelf import Refusal
from edge.platform.errors import Unprocessable
from edge.platform.gs1facts import Facts
from edge.platform.store import ReadTx, Tx

if TYPE_CHECKING:
    from edge.checkout.sessions import Sessions


class CartMoved(Exception):
    """The cart changed between the read that decided the add and its write: nothing was written."""


@dataclass
class AddPlan:
    ks: KioskSession
    product: cartrows.ProductRow
    refusal: Refusal | None
    line: tuple[int, int] | None  # the cart line this code already has: (id, qty)
    new_qty: int
    duplicate: bool  # this scan id was added before: nothing to write

    @property
    def needs_id_check(self) -> bool:
        return self.product.age_restricted and not self.ks.age_checked_by


def plan(
    sessions: Sessions, s: ReadTx, session_id: str, kiosk_id: str | None, facts: Facts, key: str, qty: int,
    today: date, scan_id: str | None,
) -> AddPlan:  # fmt: skip
    """What this add will do, from one read; raises what refuses it before anything is written."""
    cfg = sessions.cfg
    ks = sessions.load_row(s, session_id, kiosk_id)
    product = cartrows.resolve(s, facts)
    refusal = shelf.pack_refusal(s, facts, today)
    if refusal is not None:  # named, for the shopper's page, the staff alert and the pull task
        named = replace(refusal, details={**refusal.details, "name": product.name})
        return AddPlan(ks, product, named, None, 0, False)
    line = cartrows.line_by_code(s, ks.id, key)
    if scan_id is not None and cartrows.scan_seen(s, ks.id, scan_id):
        return AddPlan(ks, product, None, line, line[1] if line else 0, True)
    if line is None:
        if cartrows.line_count(s, ks.id) >= cfg.max_lines:
            raise Unprocessable(f"a cart holds at most {cfg.max_lines} lines; ask staff for help", code="cart_full")
        return AddPlan(ks, product, None, None, qty, False)
    if line[1] + qty > cfg.max_quantity:
        raise Unprocessable(f"at most {cfg.max_quantity} of one item per cart", code="quantity_too_large")
    return AddPlan(ks, product, None, line, line[1] + qty, False)


def write(
    sessions: Sessions, s: Tx, p: AddPlan, facts: Facts, key: str, kind: str, value: int, scan_id: str | None
) -> None:
    """The planned change, inside the write slot. Raises CartMoved (rolled back) when the cart's
    version moved since the plan's read."""
    ks = p.ks
    if p.refusal is not None:  # the alert and the task commit; the scan is refused after the write
        if scan_id is not None and not cartrows.claim_scan(s, ks.id, scan_id):
            return  # a resend of a refused scan (its answer lost): staff heard of it the first time
        sessions._alert_staff(s, ks, p.refusal.code, p.refusal.details)
        pack = {**p.refusal.details, "code": p.refusal.code}
        tasks.pull_pack(s, sessions.settings.store.id, sessions.bus, ks.kiosk_id, ks.id, pack)
        return
    if scan_id is not None and not cartrows.claim_scan(s, ks.id, scan_id):
        raise CartMoved  # claimed since the read: decide again (it reads as a duplicate)
    if p.line is None:
        cartrows.insert_line(s, ks.id, key, p.product.gtin, p.new_qty, kind, value, facts.expiry)
        if p.needs_id_check:
            sessions._call_staff_for_id(s, ks, p.product)
    else:
        cartrows.set_line_qty(s, p.line[0], p.new_qty)
    if not cartrows.touch_if_unchanged(s, ks):
        raise CartMoved
