"""Single use, chain-wide: a checkout holds its single-use coupons at the chain's authority.

A single-use coupon (per-member limit 0) used to be single use per box: the same code could be
redeemed once in every store. Now the checkout reserves its use at the cloud (the registry's
`coupons` slot, edge.sync.coupons) before any money is asked for, with a 200 ms deadline. The
reservation commits with the order's own `order.paid` event and is freed by `order.voided`; a
payment that fails releases it (and it lapses by itself if this box dies mid-checkout).

When the cloud cannot be reached in time, the coupon's offline policy (claim `off`, chosen when
it is issued) decides:

- `store` (the default): the coupon is redeemed if this box has not redeemed it (the local
  unique key, as before), and the order's event says it was redeemed offline; the cloud records
  it when the event arrives and reports a use beyond what the coupon allows (over-use report).
- `refuse`: the coupon is not accepted until the cloud answers again (for high-value coupons).

A wallet (in-app) payment reserves when it starts, under the same holder, and frees the
reservation when it ends without a sale. Per-member coupons (limit N) stay counted per box:
their use keys count uses on this box.
On a box without a cloud (sync off), coupons are single use per box, as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter

from edge.checkout.settings import CheckoutConfig
from edge.platform.errors import Conflict, Unavailable
from edge.sync.contract import CouponAuthority, CouponUse

RESERVATIONS = Counter(
    "edge_checkout_coupon_reservations_total", "Chain-wide coupon reservations by outcome", ["outcome"]
)
OFFLINE_POLICIES = ("store", "refuse")


def chain_uses(coupons_json: str) -> dict[str, tuple[CouponUse, dict[str, Any]]]:
    """The cart's single-use coupons by use key (the key the box's own redemption row takes)."""
    out = {}
    for claims in json.loads(coupons_json or "[]"):
        if int(claims.get("lim", 0)) == 0:
            key = f"{claims['c']}:{claims['s']}"
            out[key] = (CouponUse(key, str(claims["c"])), claims)
    return out


@dataclass
class Held:
    """What this checkout holds at the chain: each use key's standing, for the order's event."""

    authority: CouponAuthority | None
    holder: str
    standing: dict[str, str] = field(default_factory=dict)  # use key -> reserved | offline | local
    paid: bool = False

    def release_unless_paid(self) -> None:
        """The payment failed: free what this checkout may hold (an "offline" answer may have been a
        reservation that arrived after the deadline)."""
        held = [k for k, v in self.standing.items() if v in ("reserved", "offline")]
        if not self.paid and held and self.authority is not None:
            self.authority.release(self.holder, held)
            RESERVATIONS.labels("released").inc()

    def event_fields(self, coupon_id: str) -> dict[str, str]:
        """The fields the order's `order.paid` event carries for one coupon (cloud/coupons.py)."""
        for key, standing in self.standing.items():
            if key.split(":", 1)[0] == coupon_id:
                return {"use_key": key, "chain": standing, "holder": self.holder}
        return {}


def holder(settings: CheckoutConfig, session_id: str) -> str:
    """Who holds a reservation: one cart's checkout on one box (the same for its wallet payment)."""
    return f"{settings.store.id}/{settings.store.node}/{session_id}"


def wallet_hold(settings: CheckoutConfig, session_id: str, coupons_json: str) -> Held:
    """What a wallet payment holds when its sale is written: what its start reserved, under the
    cart's holder (the reservation itself was made then, in InAppPay.start)."""
    held = Held(None, holder(settings, session_id))
    held.standing = dict.fromkeys(chain_uses(coupons_json), "wallet")
    return held


def redeemed(authority: CouponAuthority | None, held: Held, order_id: str) -> None:
    """Tell the chain at once that these uses are redeemed (in the background): the order's event
    says it too, but it may wait in the outbox longer than a reservation lives."""
    keys = [k for k, v in held.standing.items() if v != "local"]
    if authority is not None and keys:
        authority.redeemed(held.holder, keys, order_id)


def release(authority: CouponAuthority | None, holder: str, coupons_json: str) -> None:
    """A wallet payment that ended without a sale frees what its start reserved."""
    keys = list(chain_uses(coupons_json))
    if authority is not None and keys:
        authority.release(holder, keys)


def reserve(
    authority: CouponAuthority | None, holder: str, coupons_json: str, spent: Callable[[str], None] | None = None
) -> Held:
    """Hold the cart's single-use coupons for this checkout, or raise before any money moves:
    409 `coupon_used` (used elsewhere in the chain), 503 `coupon_needs_chain` (offline policy).
    A wallet coupon the chain refuses is taken off the cart (`spent`, with its use key): the
    shopper sees the new total and pays again (409 `wallet_coupon_used`)."""
    uses = chain_uses(coupons_json)
    held = Held(authority, holder)
    if not uses:
        return held
    if authority is None:
        held.standing = dict.fromkeys(uses, "local")
        return held
    verdict = authority.reserve(holder, [use for use, _ in uses.values()])
    RESERVATIONS.labels(verdict.outcome).inc()
    if verdict.outcome == "used":
        claims = uses.get(verdict.use_key or "", (None, {}))[1]
        if claims.get("w") and spent is not None and verdict.use_key:
            spent(verdict.use_key)
            raise Conflict(
                f"{claims.get('n') or 'a coupon from your wallet'} was just used in another store and has been taken "
                "off this cart: check the new total and pay again. Nothing was charged",
                code="wallet_coupon_used",
            )
        name = claims.get("n") or "a coupon in this cart"
        raise Conflict(
            f"{name} has already been used, here or in another store; remove it to pay. Nothing was charged",
            code="coupon_used",
        )
    if verdict.outcome == "unreachable":
        refused = [claims for _, claims in uses.values() if claims.get("off") == "refuse"]
        if refused:
            raise Unavailable(
                f"{refused[0].get('n') or 'this coupon'} can only be used while the store reaches the chain's "
                "systems; try again in a moment, or remove it to pay now. Nothing was charged",
                code="coupon_needs_chain",
                details={"retry_after_s": 5},
            )
        held.standing = dict.fromkeys(uses, "offline")
        return held
    held.standing = dict.fromkeys(uses, "reserved")
    return held
