"""Members and their wallets from the chain's cloud (down-sync kinds `members` and `wallets`).

The cloud owns members (cloud/members.py): every store receives them, with a phone hash made
under the chain's `lookup` key, so a typed phone number finds a member offline. A store also
receives the wallets of the members it serves: personalised single-use coupons whose use is
reserved at the chain like any single-use coupon (edge.checkout.chaincoupons).

A wallet applies by itself: whenever the cart of a member changes, the best unused coupon of
each campaign in their wallet is offered to the pricing engine, and those it applies (under
its stacking rules: percentage first, then fixed, each with its minimum spend) are the ones the
cart holds. So a coupon that takes nothing off is never reserved or spent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects.sqlite import insert

from edge.checkout import cartrows, cartview
from edge.checkout.models import KioskSession, Member, WalletCoupon
from edge.checkout.settings import CheckoutConfig
from edge.platform.security import KeyRing
from edge.platform.store import ReadTx, Store, Tx
from edge.platform.timeutil import utcnow
from edge.platform.writeslot import INTERACTIVE
from edge.sync.contract import Applier, VersionRefused

_WALLET: Table = WalletCoupon.__table__  # type: ignore[attr-defined]
_MEMBER: Table = Member.__table__  # type: ignore[attr-defined]
_BY_HASH = select(_MEMBER).where(_MEMBER.c.phone_hash == bindparam("hash")).limit(1)
FACEPAY = ("none", "store", "chain")
KINDS = ("percent", "fixed")
LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z: what a date on a page can show


def phone_hash(lookup: KeyRing, digits: str) -> str:
    """What the cloud stores for this phone number (cloud/members.py makes the same)."""
    return hmac.new(lookup.active()[1], f"phone:{digits}".encode(), hashlib.sha256).hexdigest()


def member_by_phone_hash(s: ReadTx, lookup: KeyRing, digits: str) -> Any:
    return s.run(_BY_HASH, {"hash": phone_hash(lookup, digits)}).first()


def _text(value: Any, longest: int) -> bool:
    return isinstance(value, str) and len(value) <= longest and "\x00" not in value


def _member_row(item: Any) -> dict[str, Any]:
    """One checked member of a `members` version; VersionRefused names what is wrong."""
    if not isinstance(item, dict) or not _text(item.get("id"), 36) or not item["id"]:
        raise VersionRefused("a member needs an id of 1 to 36 characters")
    if item.get("erased") is True:
        return {"id": item["id"], "erased": True}
    phash = item.get("phone_hash")
    if not _text(item.get("name", ""), 80) or not _text(item.get("tier", ""), 16):
        raise VersionRefused(f"member {item['id']}: name or tier is not text of the right length")
    if phash is not None and (not _text(phash, 64) or len(phash) != 64):
        raise VersionRefused(f"member {item['id']}: phone_hash is a sha256 hex digest")
    if item.get("facepay", "none") not in FACEPAY or not isinstance(item.get("marketing", False), bool):
        raise VersionRefused(f"member {item['id']}: facepay or marketing is not valid")
    return {"id": item["id"], "name": item.get("name", ""), "tier": item.get("tier", ""), "phone_hash": phash,
            "facepay": item.get("facepay", "none"), "marketing": item.get("marketing", False)}  # fmt: skip


def _claims(item: Any) -> dict[str, Any]:
    """The checked claims of one wallet coupon: the fields pricing and the chain rely on."""
    c = item.get("claims") if isinstance(item, dict) else None
    ok = (
        isinstance(c, dict)
        and _text(c.get("c"), 40)
        and _text(c.get("s"), 40)
        and c.get("k") in KINDS
        and all(isinstance(c.get(f), int) and not isinstance(c.get(f), bool) for f in ("v", "min", "nbf", "exp"))
        and c.get("lim") == 0
        and c.get("off", "store") in ("store", "refuse")
        and _text(c.get("n", ""), 80)
    )
    if not ok or not _text(item.get("member_id"), 36):
        raise VersionRefused("a wallet coupon needs a member_id and single-use coupon claims (c s k v min nbf exp)")
    assert isinstance(c, dict)
    if (c["k"] == "percent" and not 1 <= c["v"] <= 90) or (c["k"] == "fixed" and not 1 <= c["v"] <= 10**9):
        raise VersionRefused(f"wallet coupon {c['c']}: value out of range")
    if not 0 <= c["min"] <= 10**9 or not 0 <= c["nbf"] < c["exp"] <= LAST_SECOND:
        raise VersionRefused(f"wallet coupon {c['c']}: minimum spend or validity out of range")
    return {k: c[k] for k in ("c", "s", "k", "v", "min", "nbf", "exp", "lim", "off", "n") if k in c} | {"w": 1}


def apply_members(s: Tx, items: list[Any]) -> None:
    """Members upserted in one statement (a version holds thousands); a tombstone empties the
    member here and drops their wallet. A member's wallet agreement for face-pay is the box's own
    and stays as it is, except on erasure."""
    rows = [_member_row(item) for item in items]  # every row checked before anything is written
    now = utcnow()
    fresh = {"origin": "cloud", "phone": None, "created_at": now, "pay_rail": "", "pay_agreement": "", "erased": False}
    live = [{**r, **fresh} for r in rows if not r.get("erased")]
    if live:
        stmt = insert(_MEMBER)
        keep = ("origin", "name", "tier", "phone_hash", "marketing", "facepay")
        s.run(stmt.on_conflict_do_update(index_elements=["id"], set_={k: stmt.excluded[k] for k in keep},
                                         where=_MEMBER.c.erased.is_(False)), live)  # fmt: skip
    for row in rows:
        if not row.get("erased"):
            continue
        s.run(delete(_WALLET).where(_WALLET.c.member_id == row["id"]))
        m = s.get(Member, row["id"])
        if m is not None:
            m.phone, m.phone_hash, m.name, m.tier = None, None, "", ""
            m.pay_rail, m.pay_agreement, m.marketing, m.facepay, m.erased = "", "", False, "none", True
            s.add(m)
            s.audit("cloud:downsync", "checkout.member_erased", m.id, reason="cloud_erasure")


def apply_wallets(s: Tx, items: list[Any]) -> None:
    """Wallet coupons in (an upsert), and coupons used elsewhere in the chain out."""
    used: list[str] = []
    rows: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict) and item.get("status") == "used":
            if not _text(item.get("use_key"), 120):
                raise VersionRefused("a used wallet coupon needs its use_key")
            used.append(item["use_key"])
            continue
        c = _claims(item)
        key = f"{c['c']}:{c['s']}"
        rows.append({"use_key": key, "member_id": item["member_id"], "claims": json.dumps(c),
                     "nbf": c["nbf"], "exp": c["exp"]})  # fmt: skip
    if rows:
        stmt = insert(_WALLET)
        s.run(stmt.on_conflict_do_update(index_elements=["use_key"], set_={
            "member_id": stmt.excluded.member_id, "claims": stmt.excluded.claims,
            "nbf": stmt.excluded.nbf, "exp": stmt.excluded.exp}), rows)  # fmt: skip
    if used:
        s.run(delete(_WALLET).where(_WALLET.c.use_key.in_(used)))


def appliers(store: Store) -> dict[str, Applier]:
    """Each version in one transaction, checked whole first: all of it applies or none."""

    def members(_version: int, items: list[Any]) -> None:
        with store.write() as s:
            apply_members(s, items)

    def wallets(_version: int, items: list[Any]) -> None:
        with store.write() as s:
            apply_wallets(s, items)

    return {"members": members, "wallets": wallets}


def refresh(s: Tx, ks: KioskSession, settings: CheckoutConfig) -> None:
    """The cart holds the wallet coupons that apply to it now (see the module's docstring). Only
    a member proven by their signed member code has their wallet applied: a typed phone number
    proves nothing, so it brings member prices but never someone's personal coupons."""
    held = [c for c in json.loads(ks.coupons or "[]") if not c.get("w")]
    if ks.member_id and ks.member_via == "code":
        campaigns = {str(c["c"]) for c in held}
        offered: list[dict[str, Any]] = []
        for _key, claims in cartrows.wallet_now(s, ks.member_id, int(time.time())):
            if claims["c"] not in campaigns:  # one coupon of a campaign per cart
                campaigns.add(claims["c"])
                offered.append(claims)
        if offered:
            s.flush()  # this change's own rows, before pricing reads them
            ks.coupons = json.dumps(held + offered)
            applied = cartview.price(s, ks, settings)[0].coupon_amounts()
            held += [c for c in offered if applied.get(c["c"], 0) > 0]
    ks.coupons = json.dumps(held)


def refresh_now(store: Store, settings: CheckoutConfig, session_id: str, drop: str | None = None) -> Any:
    """Re-apply the wallet of the cart's member in a short write of its own (the caller holds the
    cart's lock): after a scan (a new item can meet a coupon's minimum spend) and before a
    payment (a coupon expired or a price changed). `drop`: a use key the chain refused (used in
    another store): it leaves this box's wallet first. The session when its coupons changed."""
    with store.read() as r:  # most carts have no proven member: no write for them
        ks = cartrows.session(r, session_id)
        if not drop and (
            ks is None
            or ks.member_via != "code"
            or not ks.member_id
            or (not ks.coupons.count('"w"') and not cartrows.wallet_now(r, ks.member_id, int(time.time())))
        ):
            return None  # fmt: skip
    with store.write(durable=False, priority=INTERACTIVE) as s:
        if drop:
            s.run(delete(_WALLET).where(_WALLET.c.use_key == drop))
        ks = cartrows.session(s, session_id)
        if ks is None or ks.status != "open" or not ks.member_id or ks.member_via != "code":
            return None
        before = ks.coupons
        refresh(s, ks, settings)
        if ks.coupons == before:
            return None
        cartrows.touch(s, ks)
        return ks
