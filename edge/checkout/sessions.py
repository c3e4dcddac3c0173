"""Kiosk sessions and carts: open, add by scan or typed code, change, attach a member, coupons.

Every change to one session runs under that session's lock (scans from the camera thread and
taps on the kiosk can race) and in one short transaction; then a CartChanged event goes on
the bus and the kiosk page's SSE stream pushes the new cart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from edge.bus import Bus
from edge.checkout import attribution, cartadd, cartrows, cartview, tasks, wallets
from edge.checkout.cartread import CartRow
from edge.checkout.cartview import AnySession, member_view
from edge.checkout.catalog import Catalog
from edge.checkout.contract import PHONE_PREFIX, AttachedMember
from edge.checkout.events import CartChanged
from edge.checkout.models import KioskSession
from edge.checkout.priced import PricedCart
from edge.checkout.schemas import CartView
from edge.checkout.settings import CheckoutConfig, CheckoutSettings
from edge.platform.codes import Codes, guide_claims
from edge.platform.context import need
from edge.platform.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound, Unprocessable
from edge.platform.gs1facts import Facts
from edge.platform.locks import KeyedLocks
from edge.platform.store import ReadTx, Store, Tx
from edge.platform.timeutil import as_utc, store_today, utcnow
from edge.platform.writeslot import BACKGROUND, INTERACTIVE
from edge.scanning.contract import CodeReader

__all__ = ["Sessions", "member_view"]


AGE_ALERT = {"code": "age_check_required", "message": "this item needs an ID check; a member of staff is on the way"}


class Sessions:
    def __init__(
        self,
        settings: CheckoutConfig,
        store: Store,
        bus: Bus,
        catalog: Catalog,
        codes: Codes,
        reader: Callable[[], CodeReader | None],
    ) -> None:
        self.settings = settings
        self.cfg: CheckoutSettings = settings.checkout
        self.store = store
        self.bus = bus
        self.catalog = catalog
        self.codes = codes
        self.reader = reader  # what a typed code means: scanning owns the store's GS1 layout
        self.locks = KeyedLocks()  # one per cart; shared with the checkout, capture and refunds

    # --- lifecycle ----------------------------------------------------------------
    def open(self, kiosk_id: str, lock_wait_s: float | None = None) -> CartView:
        """A new session; an older open session at the same kiosk is closed (one shopper at a time)."""
        ks = KioskSession(kiosk_id=kiosk_id)
        # not fsynced, like the cart lines it will hold: a power cut loses an empty cart at worst
        with self.store.write(durable=False, lock_wait_s=lock_wait_s) as s:
            cartrows.close_open_sessions(s, kiosk_id)
            s.insert(ks)
            s.audit(f"device:{kiosk_id}", "checkout.session_open", ks.id)
        self._changed(ks, "opened")
        with self.store.read() as s:
            return self.view_of(s, ks)

    def resume(self, kiosk_id: str) -> CartView:
        """The kiosk's open session (a new one if none): a reloaded kiosk page keeps its cart."""
        current = self.current_for_kiosk(kiosk_id, create=True)
        assert current is not None
        return self.view(current, kiosk_id)

    def attached_member(self, session_id: str) -> AttachedMember | None:
        """The `carts` contract: the member attached to this cart, and how."""
        with self.store.read() as s:
            ks = cartrows.session(s, session_id) if isinstance(session_id, str) and len(session_id) <= 36 else None
        if ks is None or not ks.member_id:
            return None
        return AttachedMember(ks.member_id, ks.member_via or "")

    def current_for_kiosk(self, kiosk_id: str, create: bool = True) -> str | None:
        with self.store.read() as s:
            ks = s.exec(
                select(KioskSession)
                .where(KioskSession.kiosk_id == kiosk_id, KioskSession.status == "open")
                .order_by(col(KioskSession.created_at).desc())
            ).first()
            if ks is not None and not self.idle(ks):
                return ks.id
        return self.open(kiosk_id).session_id if create else None

    def idle(self, ks: AnySession) -> bool:
        """No activity for longer than this cart's idle time (it reads as expired)."""
        return as_utc(ks.updated_at) < utcnow() - timedelta(seconds=self.idle_s(ks.kiosk_id))

    def idle_s(self, kiosk_id: str) -> int:
        """A phone shopper walks the aisles between scans: their cart waits longer than a kiosk's."""
        return self.cfg.phone_idle_s if kiosk_id.startswith(PHONE_PREFIX) else self.cfg.session_idle_s

    def load_row(self, s: ReadTx, session_id: str, kiosk_id: str | None, *, for_change: bool = True) -> KioskSession:
        """The session for a change (or a read: for_change=False), checked: it exists, belongs to this
        kiosk (None: staff) and is still open; an idle one reads as expired (housekeeping writes that down)."""
        ks = cartrows.session(s, session_id) if isinstance(session_id, str) and len(session_id) <= 36 else None
        if ks is None:
            raise NotFound("no such kiosk session", code="unknown_session")
        if kiosk_id is not None and ks.kiosk_id != kiosk_id:
            if kiosk_id.startswith(PHONE_PREFIX):
                raise Forbidden("this cart belongs to another phone", code="wrong_phone")
            raise Forbidden("this session belongs to another kiosk", code="wrong_kiosk")
        if ks.status == "open" and self.idle(ks):
            ks.status = "expired"  # as the caller sees it; the housekeeping sweep writes it down
        if for_change and ks.status != "open":
            if ks.status == "paying":
                raise Conflict("this cart is being paid in the wallet app; it cannot change now", code="cart_paying")
            if ks.status == "expired":
                raise Gone("this session expired; start a new one", code="session_expired")
            raise Conflict(f"this session is {ks.status}", code="session_closed")
        return ks

    def expire_idle(self) -> int:
        """Expire abandoned sessions (run periodically); returns how many."""
        cutoff = utcnow() - timedelta(seconds=min(self.cfg.session_idle_s, self.cfg.phone_idle_s))
        with self.store.write(priority=BACKGROUND) as s:
            candidates = s.exec(
                select(KioskSession).where(KioskSession.status == "open", KioskSession.updated_at < cutoff)
            )
            stale = [ks for ks in candidates if self.idle(ks)]
            for ks in stale:
                ks.status = "expired"
                ks.version += 1
                s.add(ks)
        for ks in stale:
            self._changed(ks, "expired")
        return len(stale)

    # --- cart changes -----------------------------------------------------------------
    def _mutate(
        self,
        session_id: str,
        kiosk_id: str | None,
        reason: str,
        change: Callable[[Tx, KioskSession], dict[str, str] | None],
        lock_wait_s: float | None = None,
    ) -> CartView:
        """Change and commit in one short write transaction, then re-price and push the new cart.

        The cart is re-read after the commit but still under the session's lock, so the answer
        is exactly this change; pricing outside the write lock lets other kiosks write meanwhile.
        """
        with self.locks.hold(session_id, lock_wait_s):
            with self.store.write(
                durable=False, lock_wait_s=lock_wait_s, priority=INTERACTIVE
            ) as s:  # a cart line: see txn.writing
                ks = self.load_row(s, session_id, kiosk_id)
                alert = change(s, ks)
                wallets.refresh(s, ks, self.settings)  # the member's wallet coupons that apply now
                cartrows.touch(s, ks)
            with self.store.read() as s:
                view = self.view_of(s, ks)
        self._changed(ks, reason, alert)
        return view

    def add_code(
        self,
        session_id: str,
        kiosk_id: str | None,
        code: str,
        qty: int = 1,
        source: str = "typed",
        lock_wait_s: float | None = None,
        scan_id: str | None = None,
    ) -> Any:
        """A code typed at the kiosk (or sent by a client): read under the store's GS1 layout."""
        facts = need(self.reader(), "scanning").read_typed(code)
        return self.add_item(session_id, kiosk_id, facts, qty, source, lock_wait_s, scan_id)

    def add_item(
        self,
        session_id: str,
        kiosk_id: str | None,
        facts: Facts,
        qty: int = 1,
        source: str = "camera",
        lock_wait_s: float | None = None,
        scan_id: str | None = None,
    ) -> Any:
        """The hot path (every scan): prebuilt Core statements, one short write, then the new cart.
        `facts` are the GS1 facts scanning parsed (or add_code read): nothing is parsed again.

        With lock_wait_s (the HTTP handler, on the event loop) it raises WriteBusy, having done
        nothing, when the cart's lock or the write slot stays taken that long (see
        edge.platform.loopwrite). A phone's `scan_id` makes the add happen once per cart, however
        often the request is resent."""
        from edge.checkout.schemas import ItemAdded

        if not isinstance(qty, int) or not 1 <= qty <= self.cfg.max_quantity:
            raise InvalidInput(f"quantity must be 1 to {self.cfg.max_quantity}", code="bad_quantity")
        key, kind, value = cartrows.check_measure(self.cfg, facts)
        today = store_today(self.settings.store.timezone)
        with self.locks.hold(session_id, lock_wait_s):
            for _attempt in range(3):  # see edge.checkout.cartadd: decided in a read, written in a short write
                with self.store.read() as s:
                    p = cartadd.plan(self, s, session_id, kiosk_id, facts, key, qty, today, scan_id)
                if p.duplicate:
                    break
                try:
                    with self.store.write(
                        durable=False, lock_wait_s=lock_wait_s, priority=INTERACTIVE
                    ) as s:  # a cart line: txn.writing
                        cartadd.write(self, s, p, facts, key, kind, value, scan_id)
                    break
                except cartadd.CartMoved:
                    continue
            else:
                raise Conflict("the cart changed while adding this item; scan it again", code="cart_changed")
            if p.refusal is not None:
                raise Unprocessable(p.refusal.message, code=p.refusal.code, details=p.refusal.details)
            source = "duplicate" if p.duplicate else source
            alerts = [] if p.duplicate or not p.needs_id_check else [dict(AGE_ALERT)]
            proven = p.ks.member_id and p.ks.member_via == "code"  # the member's wallet may apply now
            changed = wallets.refresh_now(self.store, self.settings, session_id) if proven else None
            with self.store.read() as s:
                view = self.view_of(s, changed or p.ks)
        self._changed(p.ks, "item_added", alerts[0] if alerts else None)
        added = {"code": key, "gtin": p.product.gtin, "name": p.product.name, "qty": p.new_qty, "source": source}
        return ItemAdded(added=added, alerts=alerts, cart=view)

    def _call_staff_for_id(self, s: Tx, ks: KioskSession, product: cartrows.ProductRow) -> None:
        """Flag an age-restricted item for staff: an audit row, and a durable MQTT alert that the
        floor manager's handheld reads (docs/mqtt-topics.md), in the same transaction as the line."""
        s.audit(f"device:{ks.kiosk_id}", "checkout.age_check_needed", ks.id, gtin=product.gtin)
        self._alert_staff(s, ks, "age_check", {"gtin": product.gtin, "name": product.name})
        tasks.open_task(s, self.settings.store.id, self.bus, "id_check", ks.kiosk_id, session_id=ks.id,
                        detail={"gtin": product.gtin, "name": product.name})  # fmt: skip

    def _alert_staff(self, s: Tx, ks: KioskSession, kind: str, fields: dict[str, Any]) -> None:
        """A durable MQTT alert for the floor's handhelds (docs/mqtt-topics.md), in the caller's
        transaction: an ID check, or a pack that must not be sold (expired, recalled) and should
        be taken from the shopper and the shelf."""
        if kind != "age_check":
            s.audit(f"device:{ks.kiosk_id}", f"checkout.{kind}", ks.id, **fields)
        s.mqtt(f"retail/{self.settings.store.id}/checkout/{ks.kiosk_id}/alert",
            {"type": f"checkout.{kind}", "schema": 1, "store": self.settings.store.id, "kiosk_id": ks.kiosk_id,
             "session_id": ks.id, **fields, "at": utcnow().isoformat()},
        )  # fmt: skip

    def set_qty(
        self, session_id: str, kiosk_id: str | None, line_id: int, qty: int, lock_wait_s: float | None = None
    ) -> CartView:
        if not isinstance(qty, int) or not 0 <= qty <= self.cfg.max_quantity:
            raise InvalidInput(f"quantity must be 0 to {self.cfg.max_quantity}", code="bad_quantity")

        def change(s: Tx, ks: KioskSession) -> None:
            if not cartrows.line_in_cart(s, ks.id, line_id):
                raise NotFound("no such line in this cart", code="unknown_line")
            if qty == 0:
                cartrows.delete_line(s, line_id)
            else:
                cartrows.set_line_qty(s, line_id, qty)

        return self._mutate(session_id, kiosk_id, "line_removed" if qty == 0 else "qty_changed", change, lock_wait_s)

    def attach_member(
        self,
        session_id: str,
        kiosk_id: str | None,
        code: str | None,
        phone: str | None,
        lock_wait_s: float | None = None,
    ) -> CartView:
        if code:
            member_id: str | None = self.codes.member_id(code.strip())
        elif phone:
            digits = "".join(ch for ch in phone if ch.isdigit())
            if not 6 <= len(digits) <= 15:
                raise InvalidInput("a phone number has 6 to 15 digits", code="bad_phone")
            member_id = None
        else:
            raise InvalidInput("scan a member code or type a phone number", code="member_required")

        def change(s: Tx, ks: KioskSession) -> None:
            m = cartrows.member(s, member_id) if member_id else self._by_phone(s, digits)
            if m is None or m.erased:
                raise NotFound("this member is not known at this store", code="unknown_member")
            ks.member_id, ks.member_via = m.id, ("code" if member_id else "phone")
            attribution.served(s, ks, self.settings.store.id)

        return self._mutate(session_id, kiosk_id, "member_attached", change, lock_wait_s)

    def attach_guide(
        self, session_id: str, kiosk_id: str | None, code: str, lock_wait_s: float | None = None
    ) -> CartView:
        """The shopper scanned a guide's personal code: the sale gives that guide credit
        (edge.checkout.attribution), whichever guide's code came last."""
        guide, store = guide_claims(self.codes, code.strip())

        def change(s: Tx, ks: KioskSession) -> None:
            ks.guide_id, ks.guide_store = guide, store
            attribution.served(s, ks, self.settings.store.id)

        return self._mutate(session_id, kiosk_id, "guide_attached", change, lock_wait_s)

    def _by_phone(self, s: ReadTx, digits: str) -> Any:
        """A member created here by their number, else one of the chain's by its lookup hash."""
        m = cartrows.member_by_phone(s, digits)
        return m if m is not None else wallets.member_by_phone_hash(s, self.codes.secrets.keyring("lookup"), digits)

    def apply_coupon(
        self, session_id: str, kiosk_id: str | None, code: str, lock_wait_s: float | None = None
    ) -> CartView:
        claims = self.codes.coupon_claims(code.strip())

        def change(s: ReadTx, ks: KioskSession) -> None:
            held = json.loads(ks.coupons)
            if any(c["c"] == claims["c"] for c in held):
                raise Conflict("this coupon is already in the cart", code="coupon_already_applied")
            cartrows.coupon_use_key(s, claims, ks.member_id)
            held.append(claims)
            ks.coupons = json.dumps(held)

        return self._mutate(session_id, kiosk_id, "coupon_applied", change, lock_wait_s)

    def refresh_wallet(self, session_id: str, drop: str | None = None) -> None:
        """Before a payment, under the cart's lock: the wallet coupons that apply now (wallets.refresh_now)."""
        ks = wallets.refresh_now(self.store, self.settings, session_id, drop)
        if ks is not None:
            self._changed(ks, "wallet_changed")

    def approve_age(self, session_id: str, staff: str) -> CartView:
        with self.locks.hold(session_id), self.store.write() as s:
            ks = self.load_row(s, session_id, None)
            ks.age_checked_by = staff
            cartrows.touch(s, ks)
            s.audit(staff, "checkout.age_checked", ks.id)
        self._changed(ks, "age_checked")
        return self.view(session_id)

    # --- reading and pricing (edge.checkout.cartview) ---------------------------------------
    def price(self, s: ReadTx, ks: AnySession) -> tuple[PricedCart, dict[int, CartRow]]:
        return cartview.price(s, ks, self.settings)

    def view(self, session_id: str, kiosk_id: str | None = None) -> CartView:
        with self.store.read() as s:
            ks = self.load_row(s, session_id, kiosk_id, for_change=False)
            return cartview.view_of(s, ks, self.settings)

    def view_of(self, s: ReadTx, ks: AnySession) -> CartView:
        return cartview.view_of(s, ks, self.settings)

    # --- helpers ------------------------------------------------------------------------
    def _changed(self, ks: AnySession, reason: str, alert: dict[str, str] | None = None) -> None:
        self.bus.publish(
            CartChanged(session_id=ks.id, kiosk_id=ks.kiosk_id, version=ks.version, reason=reason, alert=alert)
        )

    def payment_waiting(self, session_id: str) -> None:
        """The wallet asks the shopper to confirm (a password) while the payment waits: say so on the kiosk."""
        with self.store.read() as s:
            ks = cartrows.session(s, session_id)
        if ks is not None:
            self.alert(ks.kiosk_id, session_id, "payment_waiting", "confirm the payment in your wallet")

    def alert(self, kiosk_id: str, session_id: str | None, code: str, message: str) -> None:
        """Show a typed problem on the kiosk (from a camera scan, where there is no HTTP reply)."""
        self.bus.publish(
            CartChanged(
                session_id=session_id or "",
                kiosk_id=kiosk_id,
                version=-1,
                reason="alert",
                alert={"code": code, "message": message},
            )
        )
