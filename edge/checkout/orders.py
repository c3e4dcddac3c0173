"""Checkout: price, authorise, then commit order + payment + coupons + exit pass + outbox at once.

The sequence, and why it survives kill -9 at any point:

1. The payment intent row is committed *before* the provider is called (its id is the
   idempotency key). A crash after this leaves an intent without an order.
2. The provider authorises (a hold, not a charge).
3. ONE transaction writes the order, its lines, the payment record (intent -> authorized),
   the coupon redemptions, the exit pass and the outbox rows. Either all of it exists or none.
4. The provider captures; the intent becomes captured.

On start, `recover()` reverses every hold whose intent has no order (so nobody is charged
without an order) and captures every authorised payment whose order exists; while running, the
housekeeping loop does the same for holds older than `checkout.orphan_hold_after_s`.

Whatever goes wrong, the shopper is only told "nothing was charged" when that is known: the
provider said no, or it was asked (`query`) and whatever it held was reversed.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from datetime import timedelta
from typing import NoReturn

from sqlalchemy.exc import IntegrityError

from edge.bus import Bus
from edge.checkout import attribution, audits, cartrows, chaincoupons
from edge.checkout.capture import Capturer
from edge.checkout.chaincoupons import Held
from edge.checkout.events import CartChanged, OrderPaid
from edge.checkout.models import CouponRedemption, ExitPass, KioskSession, Order, OrderLine, PaymentIntent
from edge.checkout.outcome import checkout_result, paid_event
from edge.checkout.payable import payable_intent
from edge.checkout.payments import PaymentFailed, PaymentProvider, PaymentTimeout, PaymentUnconfirmed, Simulation
from edge.checkout.routing import choose_provider
from edge.checkout.schemas import CheckoutOut
from edge.checkout.sessions import Sessions
from edge.checkout.settings import CheckoutConfig
from edge.fitting.contract import TryOns
from edge.platform.codes import Codes
from edge.platform.errors import Conflict, DiskFailed, EdgeError, InvalidInput, ResourceFault
from edge.platform.store import ReadTx, Store
from edge.platform.timeutil import utcnow
from edge.sync.contract import CouponAuthority

log = logging.getLogger(__name__)


class OrderNotSaved(EdgeError):
    """The payment went through but the order could not be written (disk full, database locked)."""

    status = 503
    code = "order_not_saved"


class Checkout:
    def __init__(
        self,
        settings: CheckoutConfig,
        store: Store,
        bus: Bus,
        sessions: Sessions,
        codes: Codes,
        providers: dict[str, PaymentProvider],
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.sessions = sessions
        self.codes = codes
        self.providers = providers
        self.rng = random.SystemRandom()
        self.capturer = Capturer(store, providers, self._mark, sessions.locks)
        self.coupons: Callable[[], CouponAuthority | None] = lambda: None  # the chain's (set by the component)
        self.tryons: Callable[[], TryOns | None] = lambda: None  # fitting's try-ons, if on this box

    def _style(self, gtin: str) -> str:
        product = self.sessions.catalog.get(gtin)
        return (product.style or product.name) if product is not None else ""

    def provider(self, name: str, credential: str | None = None) -> PaymentProvider:
        """The provider that moves this payment (routing.py)."""
        return choose_provider(self.settings.checkout, self.providers, name, credential)

    # --- the use case -----------------------------------------------------------------------
    def checkout(
        self,
        session_id: str,
        kiosk_id: str | None,
        *,
        provider: str,
        credential: str | None = None,
        client_key: str | None = None,
        simulation: Simulation | None = None,
        actor: str = "",
        expected_total_minor: int | None = None,
    ) -> CheckoutOut:
        prov = self.provider(provider, credential)
        if simulation is not None and self.settings.checkout.mode == "production":
            raise InvalidInput("payment simulation is only for sandbox mode", code="simulation_refused")
        asked = False  # whether the payment network was asked for money yet
        try:
            with self.sessions.locks.hold(session_id):
                self.sessions.refresh_wallet(session_id)  # a wallet coupon expired, or now applies
                with self.store.read() as s:  # checks and pricing read; the cart cannot change (session lock)
                    ks = self.sessions.load_row(s, session_id, kiosk_id, for_change=False)
                    if ks.order_id:  # a repeated or concurrent checkout of a paid cart: the same order
                        return self.result(s, ks.order_id, replayed=True)
                    ks, intent = payable_intent(
                        self.sessions,
                        self.settings,
                        s,
                        session_id,
                        kiosk_id,
                        prov.name,
                        client_key,
                        expected_total_minor,
                    )
                # the chain's single-use coupons, held before any money moves (chaincoupons.py)
                held = chaincoupons.reserve(self.coupons(), chaincoupons.holder(self.settings, session_id), ks.coupons,
                                            lambda key: self.sessions.refresh_wallet(session_id, drop=key))  # fmt: skip
                try:
                    with self.store.write() as s:
                        s.insert(intent)
                    asked = True
                    ref = self._authorize(prov, intent, credential, simulation)
                    try:
                        order_id = self.commit_order(intent, ref, actor or f"device:{ks.kiosk_id}", held)
                        held.paid = True
                    except DiskFailed as exc:
                        held.paid = True  # the order may be on disk: its coupons stay held (they lapse if not)
                        # Committed but maybe not on disk: releasing the hold could leave an order unpaid.
                        # Recovery at the restart settles it from what the disk holds (order: capture;
                        # none: reverse).
                        raise OrderNotSaved(
                            "the sale could not be saved safely; the store box needs attention. Please ask staff "
                            "before paying again.",
                            details={"charged": "unknown"},
                        ) from exc
                    except ResourceFault as exc:  # a full disk, a busy or damaged database: no order
                        raise self._not_saved(prov, intent.id, exc) from exc
                    except EdgeError as exc:
                        if not self._reverse_quietly(prov, intent.id, "order_refused"):
                            raise PaymentUnconfirmed(
                                f"{exc.message.split(';')[0]}; the amount held on your payment will be released "
                                "automatically. Please ask staff before paying again.",
                                details={"charged": "unknown", "reason": exc.code},
                            ) from exc
                        raise
                    except Exception as exc:  # a bug: no order, so no hold either
                        log.exception("the order for payment %s could not be saved", intent.id)
                        raise self._not_saved(prov, intent.id, exc) from exc
                    self.capturer.submit(intent.id, order_id)
                except BaseException:
                    held.release_unless_paid()
                    raise
                with self.store.read() as s:
                    out = self.result(s, order_id)
        except ResourceFault as fault:  # a full disk or busy database outside the order's own commit
            fault.details.setdefault("charged", "unknown" if asked else False)
            raise
        self.announce_paid(order_id, ks, out.total_minor, out.currency)
        return out

    def announce_paid(self, order_id: str, ks: KioskSession, total_minor: int, currency: str) -> None:
        """Tell the bus a sale is written: the order (sync, metrics) and the cart's new state (SSE)."""
        self.bus.publish(
            OrderPaid(
                order_id=order_id,
                session_id=ks.id,
                kiosk_id=ks.kiosk_id,
                total_minor=total_minor,
                currency=currency,
            )
        )
        self.bus.publish(CartChanged(session_id=ks.id, kiosk_id=ks.kiosk_id, version=ks.version + 1, reason="paid"))

    def _not_saved(self, prov: PaymentProvider, intent_id: str, exc: Exception) -> OrderNotSaved:
        """The order could not be written: release the hold and say whether that was confirmed."""
        fault = {"fault": exc.code} if isinstance(exc, ResourceFault) else {}
        if self._reverse_quietly(prov, intent_id, "order_not_saved"):
            return OrderNotSaved(
                "the sale could not be saved; the payment was released and nothing was charged. "
                "Please try again or ask staff.",
                details={"charged": False, **fault},
            )
        return OrderNotSaved(
            "the sale could not be saved; the amount held on your payment will be released "
            "automatically. Please ask staff.",
            details={"charged": "unknown", **fault},
        )

    def _authorize(
        self, prov: PaymentProvider, intent: PaymentIntent, credential: str | None, sim: Simulation | None
    ) -> str:
        try:
            return prov.authorize(
                intent.id,
                order_ref=intent.session_id,
                amount_minor=intent.amount_minor,
                currency=intent.currency,
                credential=credential,
                simulation=sim,
            )
        except PaymentTimeout:
            self._settle_unknown(prov, intent.id, "timeout")
        except PaymentUnconfirmed:  # the provider could not settle it: the intent stays open for recovery
            raise
        except EdgeError as exc:  # declined, failed, a bad credential: the provider says nothing moved
            try:
                self._mark(intent.id, "failed", exc.code)
            except ResourceFault:  # the intent stays "authorizing": housekeeping asks the network
                log.warning("payment %s declined (%s), not recorded yet", intent.id, exc.code)
            raise
        except Exception:  # the outcome is unknown: ask, never assume
            log.exception("payment %s: unexpected provider error", intent.id)
            self._settle_unknown(prov, intent.id, "provider_error")

    def _settle_unknown(self, prov: PaymentProvider, intent_id: str, why: str) -> NoReturn:
        """After a timeout or an unexpected error: query the key and reverse whatever is held.

        Never re-sends the authorisation. If the network cannot even be asked, the intent stays
        "authorizing" and the housekeeping loop settles it; the shopper is not told "nothing was
        charged" then, because that is not known.
        """
        try:
            state = prov.query(intent_id)
            if state.status in ("authorized", "captured"):
                prov.reverse(intent_id)
        except Exception as exc:
            log.warning("payment %s: could not settle after %s (%r); recovery will", intent_id, why, exc)
            raise PaymentUnconfirmed(
                "the payment could not be confirmed. If money was held it will be released automatically; "
                "please ask staff before paying again.",
                details={"charged": "unknown"},
            ) from None
        try:
            self._mark(intent_id, "reversed" if state.status != "absent" else "failed", why)
        except Exception:
            log.exception("payment %s settled, but not recorded; recovery will", intent_id)
        if why == "timeout":
            raise PaymentTimeout(
                "the payment network did not answer; nothing was charged, please try again",
                details={"charged": False},
            )
        raise PaymentFailed("the payment could not be completed; nothing was charged", details={"charged": False})

    def _mark(self, intent_id: str, status: str, error: str) -> None:
        with self.store.write() as s:
            row = s.get(PaymentIntent, intent_id)
            if row is not None:
                row.status, row.error_code, row.updated_at = status, error[:48], utcnow()
                s.add(row)
                s.outbox(
                    "orders",
                    f"payment.{status}",
                    {"payment_id": intent_id, "error": error, "session_id": row.session_id},
                )

    def _reverse_quietly(self, prov: PaymentProvider, intent_id: str, why: str) -> bool:
        """Release the hold of a payment that has no order; True when the network confirmed it."""
        try:
            prov.reverse(intent_id)
        except Exception:
            log.exception("reversal of %s failed; recovery will retry", intent_id)
            return False
        try:
            self._mark(intent_id, "reversed", why)
        except Exception:  # the intent stays "authorizing": recovery queries it and records the reversal
            log.exception("reversal of %s not recorded; recovery will", intent_id)
        return True

    def commit_order(self, intent: PaymentIntent, ref: str, actor: str, held: Held | None = None) -> str:
        """Step 3: everything about the sale in ONE transaction.

        The cart is priced (again) in a read before the write lock is taken: the caller holds the
        cart's lock, so its lines cannot change, and the total must still be what was authorised.
        Pricing under the write lock made every kiosk's scans wait for it."""
        with self.store.read() as s:
            ks = cartrows.session(s, intent.session_id)
            assert ks is not None
            priced, rows = self.sessions.price(s, ks)
            risk = audits.score(
                self.settings.checkout.audit, owner=ks.kiosk_id, total_minor=priced.total_minor,
                rows=rows.values(), started=ks.created_at, member_id=ks.member_id,
                past=audits.history(s, ks.member_id),
            )  # fmt: skip
        if priced.total_minor != intent.amount_minor:
            raise Conflict("the cart changed while paying; nothing was charged", code="cart_changed")
        order = Order(
            session_id=ks.id,
            kiosk_id=ks.kiosk_id,
            member_id=ks.member_id,
            currency=priced.currency,
            subtotal_minor=priced.subtotal_minor,
            discount_minor=priced.discount_minor,
            tax_minor=priced.tax_minor,
            total_minor=priced.total_minor,
            pricing=json.dumps(priced.as_dict()),
        )
        lines = [
            OrderLine(
                order_id=order.id,
                line_no=n,
                gtin=pl.gtin,
                name=pl.name,
                qty=pl.qty,
                gross_minor=pl.gross_minor,
                discount_minor=pl.discount_minor,
                net_minor=pl.net_minor,
                tax_minor=pl.tax_minor,
            )
            for n, pl in enumerate(priced.lines, start=1)
        ]
        amounts = priced.coupon_amounts()
        held = held or chaincoupons.wallet_hold(self.settings, ks.id, ks.coupons)
        credits = attribution.credit(ks, priced, order.id, self.settings, self.tryons(), self._style)
        xp = ExitPass(
            order_id=order.id,
            expires_at=utcnow() + timedelta(seconds=self.settings.checkout.exit_pass_ttl_s),
        )
        xp.audit_flag, xp.audit_reasons = audits.decide(
            self.settings.checkout.audit, self.settings.checkout.audit_share, risk, self.rng
        )
        try:
            with self.store.write() as s:
                now = cartrows.session(s, ks.id)
                assert now is not None
                if now.order_id:
                    raise Conflict("this cart was already paid", code="already_paid")
                redemptions = [  # checked under the write lock: a coupon is used once, atomically
                    CouponRedemption(
                        coupon_id=c["c"],
                        use_key=cartrows.coupon_use_key(s, c, ks.member_id),
                        member_id=ks.member_id,
                        order_id=order.id,
                        amount_minor=amounts.get(c["c"], 0),
                    )
                    for c in json.loads(ks.coupons)
                ]
                cartrows.mark_authorized(s, intent.id, order.id, ref)
                s.insert(order, *lines, *redemptions, xp, *credits)  # a unique coupon key clash raises here
                cartrows.mark_paid(s, now, order.id)
                s.outbox("orders", "order.paid", paid_event(order, self.settings.store.id, priced, intent,
                                                           redemptions, held, credits))  # fmt: skip
                s.outbox(
                    "orders",
                    "payment.authorized",
                    {
                        "order_id": order.id,
                        "payment_id": intent.id,
                        "provider": intent.provider,
                        "amount_minor": intent.amount_minor,
                    },
                )
                s.outbox(
                    "orders",
                    "exit_pass.issued",
                    {"order_id": order.id, "pass_id": xp.id, "expires_at": xp.expires_at.isoformat()},
                )
                s.audit(
                    actor,
                    "checkout.order_paid",
                    order.id,
                    total_minor=order.total_minor,
                    provider=intent.provider,
                )
        except IntegrityError:
            raise Conflict(
                "a coupon in this cart was just used elsewhere; nothing was charged", code="coupon_used"
            ) from None
        chaincoupons.redeemed(self.coupons(), held, order.id)  # at once, not only when the event arrives
        return order.id

    def result(self, s: ReadTx, order_id: str, replayed: bool = False) -> CheckoutOut:
        return checkout_result(s, self.codes, order_id, replayed)
