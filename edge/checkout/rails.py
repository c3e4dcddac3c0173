"""The real payment rails (WeChat Pay, Alipay) behind the one PaymentProvider interface.

A wallet payment code is a *direct sale*: the gateway takes the money at once, there is no hold.
So on a rail `authorize` is the pay call, `capture` has nothing left to do, and `reverse` is the
gateway's cancel (撤销: closes a waiting trade, refunds a paid one) or, with a refund key, a refund.
The payment intent id is the merchant's trade number (out_trade_no): one intent, one pay call,
never a second — whatever the answer, the box asks (query) instead of paying again.

The sequence every rail follows (the gateways document it the same way):
- paid → done; refused → nothing moved, say why;
- "waiting for the user" (the wallet asks for a password) → query every `poll_interval_s` until
  paid, closed, or `shopper_wait_s` passes → cancel;
- an unknown outcome (timeout, 5xx, a system error, an answer whose signature does not verify)
  → query; paid → done; waiting → wait as above; otherwise cancel. Only a cancel the gateway
  confirmed lets the shopper be told "you have not been charged"; if even that fails the intent
  stays open and the recovery loop cancels it later (capture.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from edge.checkout.payments import (
    ChargeState,
    PaymentDeclined,
    PaymentFailed,
    PaymentTimeout,
    PaymentUnconfirmed,
    Simulation,
)
from edge.checkout.settings import RailSettings
from edge.platform.errors import InvalidInput, Unprocessable

log = logging.getLogger(__name__)

Kind = Literal["paid", "waiting", "refused", "closed", "absent", "unknown"]
RAIL_LABELS = {"wechatpay": "WeChat Pay", "alipay": "Alipay"}
# a member's withholding agreement the gateway no longer honours (revoked in the wallet, expired)
AGREEMENT_REFUSALS = {"ACQ.AGREEMENT_NOT_EXIST", "ACQ.AGREEMENT_INVALID", "CONTRACT_NOT_EXIST"}
_UNKNOWN_TRIES = 3  # answers of "unknown"/"absent" after which the box stops asking and cancels


@dataclass(frozen=True)
class Answer:
    """A gateway's answer about one trade, in the box's words (each rail maps its own codes)."""

    kind: Kind
    ref: str = ""  # the gateway's trade number
    amount_minor: int | None = None
    code: str = ""  # the gateway's own code, for the log and the refusal message
    expired_code: bool = False  # refused because the payment code is stale (refresh it in the wallet)
    tell: bool = True  # "waiting" because the shopper must confirm in the wallet (not a gateway's own delay)


def _rail_by_prefix(text: str) -> str | None:
    """10-15: WeChat Pay, 25-30: Alipay; the 18-digit dynamic code a wallet app shows."""
    if len(text) != 18 or not text.isascii() or not text.isdigit():
        return None
    prefix = int(text[:2])
    return "wechatpay" if 10 <= prefix <= 15 else "alipay" if 25 <= prefix <= 30 else None


def is_payment_code(text: str | None) -> bool:
    return _rail_by_prefix((text or "").strip()) is not None


def rail_for_code(code: str | None) -> str:
    """Which rail a wallet payment code belongs to, by prefix as real terminals route them."""
    text = (code or "").strip()
    if len(text) != 18 or not text.isascii() or not text.isdigit():
        raise InvalidInput(
            "that is not a wallet payment code: show the 18-digit payment code in WeChat or Alipay",
            code="bad_payment_code",
        )
    rail = _rail_by_prefix(text)
    if rail is not None:
        return rail
    raise InvalidInput(
        "this payment code is from a wallet this store does not take; pay with WeChat Pay or Alipay",
        code="unsupported_wallet",
    )


def yuan(minor: int) -> str:
    """Fen as the decimal yuan string the gateways expect ("12.30")."""
    return f"{minor // 100}.{minor % 100:02d}"


def fen(text: object) -> int | None:
    """A decimal yuan string from a gateway as fen; None when it is not one."""
    try:
        value = Decimal(str(text)) * 100
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value < 0 or value != value.to_integral_value():
        return None
    return int(value)


@dataclass(frozen=True)
class Notice:
    """A gateway's payment notification whose signature verified: what it says was paid."""

    key: str  # out_trade_no: the payment intent id
    ref: str  # the gateway's trade number
    amount_minor: int
    paid: bool


class NotificationRefused(InvalidInput):
    """Not a notification this box can believe (bad signature, another merchant, malformed)."""

    code = "notification_refused"


def refuse_simulation(simulation: Simulation | None) -> None:
    """Simulation fields steer the sandbox network only; a real rail never takes them."""
    if simulation is not None:
        raise InvalidInput("payment simulation is only for the sandbox", code="simulation_refused")


def refund_state(key: str, total_minor: int, refunded_minor: int) -> ChargeState:
    """What a trade holds after a refund the gateway confirmed."""
    status = "refunded" if refunded_minor >= total_minor else "captured"
    return ChargeState(status, total_minor, refunded_minor, key)


class Rail:
    """The shared sequence; a subclass speaks one gateway through its SDK and maps its answers."""

    name = "rail"

    def __init__(self, settings: RailSettings, subject: str) -> None:
        self.settings = settings
        self.subject = subject[:128] or "retail-edge"  # what the shopper's wallet shows as the payee's item
        # told (with the cart's id) when the wallet asks the shopper to confirm, so the kiosk can say so
        self.on_waiting: Callable[[str], None] | None = None

    # --- what a subclass provides: one gateway call each, answers mapped, never raising for a
    # gateway's "no" (that is an Answer) -------------------------------------------------------
    def _pay(self, key: str, amount_minor: int, code: str, order_ref: str) -> Answer:
        raise NotImplementedError

    def _query(self, key: str) -> Answer:
        raise NotImplementedError

    def _cancel(self, key: str) -> bool:
        """True when the gateway confirmed the trade is closed (and refunded if it had been paid)."""
        raise NotImplementedError

    def _refund(self, key: str, total_minor: int, amount_minor: int, refund_key: str) -> ChargeState:
        raise NotImplementedError

    def _refund_state(self, key: str, refund_key: str) -> ChargeState | None:
        raise NotImplementedError

    # --- in-app pay: the shopper pays inside the wallet; the gateway tells the box ---------------
    def create_order(self, key: str, amount_minor: int, order_ref: str) -> str:
        """Place the order at the gateway; the QR text the wallet opens. Raises PaymentFailed (nothing
        placed) or PaymentTimeout (unknown: the caller cancels the number)."""
        raise NotImplementedError

    def notification(self, body: bytes, content_type: str) -> Notice:
        """Verify and read a notification; NotificationRefused when it cannot be believed."""
        raise NotImplementedError

    ack_body = "success"  # what the gateway expects back for a notification the box has taken
    ack_media_type = "text/plain"

    def close(self, key: str) -> bool:
        """Close a wallet order nobody paid; False when it was paid meanwhile (then it is a sale) or the
        gateway did not confirm. Never refunds: giving money back is `reverse` with a refund key."""
        raise NotImplementedError

    def ask(self, key: str) -> Answer:
        """The gateway's view of one trade (the query fallback when a notification never comes)."""
        return self._query(key)

    def _withhold(self, key: str, amount_minor: int, agreement: str, order_ref: str) -> Answer:
        """Charge a member's signed payment agreement (face-pay): no code, the same outcomes."""
        raise NotImplementedError

    def withhold(self, key: str, *, amount_minor: int, currency: str, agreement: str, order_ref: str) -> str:
        """Face-pay's charge: the member's agreement on this rail, followed like a payment code."""
        if currency != "CNY":
            raise Unprocessable(f"{RAIL_LABELS[self.name]} takes CNY only", code="rail_currency")
        return self._settle(key, amount_minor, self._withhold(key, amount_minor, agreement, order_ref), order_ref)

    # --- PaymentProvider ---------------------------------------------------------------------
    def authorize(
        self,
        key: str,
        *,
        order_ref: str,
        amount_minor: int,
        currency: str,
        credential: str | None,
        simulation: Simulation | None = None,
    ) -> str:
        refuse_simulation(simulation)
        if currency != "CNY":
            raise Unprocessable(f"{RAIL_LABELS[self.name]} takes CNY only", code="rail_currency")
        if rail_for_code(credential) != self.name:
            raise InvalidInput("this payment code belongs to another wallet", code="bad_payment_code")
        assert credential is not None
        answer = self._pay(key, amount_minor, credential.strip(), order_ref)
        return self._settle(key, amount_minor, answer, order_ref)

    def _settle(self, key: str, amount_minor: int, answer: Answer, order_ref: str) -> str:
        """Follow the answer until the trade is paid or closed; see the module docstring."""
        deadline = time.monotonic() + self.settings.shopper_wait_s
        waited = False
        unknowns = 0
        while True:
            if answer.kind == "paid" and answer.amount_minor is None:  # a sale needs the amount taken
                answer = Answer("unknown", answer.ref, code="no_amount")
            if answer.kind == "paid":
                if answer.amount_minor not in (None, amount_minor):
                    log.error("payment %s: gateway took %s, not %s; cancelling", key, answer.amount_minor, amount_minor)
                    self._cancel_or_unconfirmed(key, waited)
                    raise PaymentFailed(
                        "the wallet was charged a different amount; it was refunded", code="amount_mismatch"
                    )
                return answer.ref or key
            if answer.kind == "refused":
                if answer.code in AGREEMENT_REFUSALS:
                    raise PaymentDeclined(
                        "the wallet no longer honours this member's face-pay agreement; please pay with a "
                        "payment code. You have not been charged.",
                        code="pay_agreement_invalid",
                        details={"charged": False},
                    )
                if answer.expired_code:
                    raise PaymentDeclined(
                        "this payment code has expired: refresh it in your wallet and scan again; "
                        "you have not been charged",
                        code="payment_code_expired",
                        details={"charged": False},
                    )
                raise PaymentDeclined(
                    "the wallet declined the payment; you have not been charged. Try another way to pay.",
                    details={"charged": False, "reason": answer.code},
                )
            if answer.kind == "closed":
                raise PaymentDeclined(
                    "the payment was cancelled in the wallet; you have not been charged",
                    code="payment_cancelled",
                    details={"charged": False},
                )
            if answer.kind == "waiting":
                if not waited and answer.tell and self.on_waiting is not None:
                    self._tell_waiting(order_ref)
                waited = True
            else:
                unknowns += 1
            if time.monotonic() >= deadline or unknowns > _UNKNOWN_TRIES:
                break
            if (answer.kind == "waiting" and answer.code != "ACCEPTED") or unknowns > 1:
                # the first query after an unknown outcome, or after a withholding was accepted, goes at once
                time.sleep(min(self.settings.poll_interval_s, max(0.0, deadline - time.monotonic())))
            answer = self._query(key)
        self._cancel_or_unconfirmed(key, waited)
        if waited:
            raise PaymentDeclined(
                "the payment was not confirmed in the wallet in time; it was cancelled and you have not been charged",
                code="payment_not_confirmed",
                details={"charged": False},
            )
        raise PaymentFailed(
            "the payment network did not answer; you have not been charged, please try again",
            code="payment_timeout",
            details={"charged": False},
        )

    def _tell_waiting(self, order_ref: str) -> None:
        assert self.on_waiting is not None
        try:
            self.on_waiting(order_ref)
        except Exception:  # a notice on a screen must never change what happens to the money
            log.exception("payment notice for %s failed", order_ref)

    def _cancel_or_unconfirmed(self, key: str, waited: bool) -> None:
        if not self._cancel(key):
            log.warning("payment %s: the cancel was not confirmed; recovery will retry it", key)
            raise PaymentUnconfirmed(
                "the payment could not be confirmed. If money was taken it will be returned automatically; "
                "please ask staff before paying again.",
                details={"charged": "unknown"},
            )

    def capture(self, key: str) -> None:
        """Nothing to take: a payment-code sale is settled when the gateway says paid."""

    def query(self, key: str) -> ChargeState:
        answer = self._query(key)
        if answer.kind == "unknown":
            raise PaymentTimeout(f"{RAIL_LABELS[self.name]} could not be asked about this payment")
        status = {"paid": "captured", "waiting": "authorized", "absent": "absent"}.get(answer.kind, "reversed")
        return ChargeState(status, answer.amount_minor or 0, 0, answer.ref)

    def reverse(self, key: str, amount_minor: int | None = None, *, idempotency_key: str | None = None) -> ChargeState:
        if idempotency_key is None:  # release a payment that has no order: the gateway's cancel
            if amount_minor is not None:
                raise InvalidInput("a partial refund needs its own refund key", code="refund_key_required")
            if not self._cancel(key):
                raise PaymentTimeout(f"{RAIL_LABELS[self.name]} did not confirm the cancel")
            return ChargeState("reversed", 0, 0, key)
        trade = self._query(key)
        if trade.kind == "unknown":
            raise PaymentTimeout(f"{RAIL_LABELS[self.name]} could not be asked about this payment")
        if trade.kind != "paid" or trade.amount_minor is None:
            done = self._refund_state(key, idempotency_key)  # fully refunded by this very key, answer lost?
            if done is not None:
                return done
            raise PaymentFailed("this payment is not settled at the gateway; nothing to refund", code="refund_refused")
        take = trade.amount_minor if amount_minor is None else amount_minor
        return self._refund(key, trade.amount_minor, take, idempotency_key)

    def reversal(self, key: str, idempotency_key: str) -> ChargeState | None:
        return self._refund_state(key, idempotency_key)
