"""Members and their wallets: the cloud owns them; each store receives them as down-sync versions.

Members go to every store (kind `members`, chain-wide). A campaign issues personalised coupons
into members' wallets in one SQL statement (a million rows is seconds, not a loop), and each
store receives, as `wallets` versions of its own, the wallets of the members it serves: those
whose home store it is and those seen there in the last WALLET_DAYS days. A member seen in a
store for the first time gets their wallet pushed there with the order event that showed them.

A wallet coupon is a single-use coupon (the claims of edge.platform.codes, `lim` 0) whose use
key is `campaign:serial`, so it is reserved and committed at the chain like any single-use
coupon (cloud/coupons.py). When one is redeemed, a chain-wide `wallets` version marks it used
in every store. Erasure removes the member's name and phone hash, burns their coupons' use keys
(a reservation of one is refused from then on), and tells every store (kinds `members` and
`member_erasure`, which removes the face template).

Phone numbers are never stored: `phone_hash` is HMAC-SHA256 under the chain's `lookup` key
(cloud/keys.py), which the boxes receive sealed, so a box can look a typed number up offline.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from cloud import coupons

Conn = psycopg.Connection[Any]

WALLET_DAYS = 90  # a store keeps the wallets of members seen there this recently
CHUNK = 2000  # wallet coupons per down-sync version
MAX_MEMBERS = 10_000  # per admin call
MEMBER_ID = re.compile(r"^[A-Za-z0-9_.-]{1,36}$")
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
FACEPAY = ("none", "store", "chain")

SCHEMA = """
CREATE TABLE IF NOT EXISTS member (
    id text PRIMARY KEY, name text NOT NULL DEFAULT '', tier text NOT NULL DEFAULT '',
    phone_hash text, marketing boolean NOT NULL DEFAULT false, facepay text NOT NULL DEFAULT 'none',
    home_store text, erased_at timestamptz, updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS member_home ON member (home_store);
CREATE TABLE IF NOT EXISTS member_seen (
    member_id text NOT NULL, store_id text NOT NULL, last_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, store_id));
CREATE TABLE IF NOT EXISTS wallet_coupon (
    use_key text PRIMARY KEY, member_id text NOT NULL, campaign text NOT NULL, claims jsonb NOT NULL,
    issued_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS wallet_coupon_member ON wallet_coupon (member_id);
CREATE INDEX IF NOT EXISTS wallet_coupon_campaign ON wallet_coupon (campaign);
CREATE INDEX IF NOT EXISTS edge_event_member ON edge_event ((payload->>'member_id'), created_at)
    WHERE kind IN ('order.paid', 'guide.served');
CREATE INDEX IF NOT EXISTS edge_event_order ON edge_event (store_id, kind, (payload->>'order_id'));
"""

# The unused coupons that {which} selects, as `wallets` versions of CHUNK coupons for each store
# that serves their member (its home store, and those that saw the member lately): one pass over
# the coupons for every store, not one per store.
_PUBLISH_WALLETS = """
INSERT INTO downsync_version (store_id, kind, items)
SELECT t.store, 'wallets', jsonb_agg(jsonb_build_object('member_id', t.member_id, 'claims', t.claims)
                                     ORDER BY t.use_key)
  FROM (SELECT s.store, w.use_key, w.member_id, w.claims,
               (row_number() OVER (PARTITION BY s.store ORDER BY w.use_key) - 1) / %(chunk)s AS chunk
          FROM wallet_coupon w JOIN member m ON m.id = w.member_id
         CROSS JOIN LATERAL (
               SELECT m.home_store AS store WHERE m.home_store IS NOT NULL
               UNION SELECT ms.store_id FROM member_seen ms
                      WHERE ms.member_id = m.id AND ms.last_seen > now() - make_interval(days => %(days)s)) s
         WHERE m.erased_at IS NULL AND {which}
           AND (%(stores)s::text[] IS NULL OR s.store = ANY(%(stores)s::text[]))
           AND NOT EXISTS (SELECT 1 FROM coupon_use u WHERE u.use_key = w.use_key AND u.status = 'committed')) t
 GROUP BY t.store, t.chunk ORDER BY t.store, t.chunk
RETURNING store_id, version
"""
_ISSUE = """
INSERT INTO wallet_coupon (use_key, member_id, campaign, claims)
SELECT %(campaign)s || ':' || x.serial, x.member_id, %(campaign)s,
       jsonb_build_object('c', %(campaign)s::text, 's', x.serial, 'k', %(k)s::text, 'v', %(v)s::int,
           'min', %(min)s::bigint, 'nbf', floor(extract(epoch FROM now()))::bigint,
           'exp', floor(extract(epoch FROM now() + make_interval(days => %(days)s)))::bigint,
           'lim', 0, 'off', %(off)s::text, 'n', %(n)s::text, 'w', 1)
  FROM (SELECT m.id AS member_id, left(md5(%(campaign)s || ':' || m.id || ':' || g), 16) AS serial
          FROM member m CROSS JOIN generate_series(1, %(each)s) g
         WHERE m.erased_at IS NULL AND (%(members)s::text[] IS NULL OR m.id = ANY(%(members)s::text[]))) x
ON CONFLICT (use_key) DO NOTHING
"""


def phone_hash(lookup_key: bytes, phone: str) -> str:
    """The lookup hash of a phone number (its digits only); the box computes the same."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return hmac.new(lookup_key, f"phone:{digits}".encode(), hashlib.sha256).hexdigest()


def check_members(body: Any) -> list[dict[str, Any]] | str:
    """The members of an upsert call, or the sentence saying what is wrong."""
    rows = body.get("members") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_MEMBERS:
        return f"members must be a list of 1 to {MAX_MEMBERS} members"
    out = []
    for i, m in enumerate(rows, start=1):
        if not isinstance(m, dict) or not isinstance(m.get("id"), str) or not MEMBER_ID.match(m["id"]):
            return f"member {i}: id is 1-36 letters, digits, '.', '-' or '_'"
        name, tier, home = m.get("name", ""), m.get("tier", ""), m.get("home_store")
        phone, facepay = m.get("phone"), m.get("facepay", "none")
        if not isinstance(name, str) or len(name) > 80 or not isinstance(tier, str) or len(tier) > 16:
            return f"member {i}: name is at most 80 characters and tier at most 16"
        if phone is not None and (not isinstance(phone, str) or not 6 <= sum(c.isdigit() for c in phone) <= 15):
            return f"member {i}: a phone number has 6 to 15 digits"
        if facepay not in FACEPAY or not isinstance(m.get("marketing", False), bool):
            return f"member {i}: facepay is one of {list(FACEPAY)} and marketing true or false"
        if home is not None and (not isinstance(home, str) or not 1 <= len(home) <= 64 or "\x00" in home):
            return f"member {i}: home_store is a store id"
        out.append({"id": m["id"], "name": name.replace("\x00", ""), "tier": tier.replace("\x00", ""),
                    "phone": phone, "facepay": facepay, "marketing": bool(m.get("marketing", False)),
                    "home_store": home})  # fmt: skip
    return out


def _box_row(m: dict[str, Any], phash: str | None) -> dict[str, Any]:
    return {"id": m["id"], "name": m["name"], "tier": m["tier"], "phone_hash": phash,
            "marketing": m["marketing"], "facepay": m["facepay"]}  # fmt: skip


def upsert(conn: Conn, lookup_key: bytes, members: list[dict[str, Any]]) -> dict[str, Any]:
    """Create or change members and send them to every store, in one transaction."""
    with conn.transaction():
        erased = {
            r[0]
            for r in conn.execute(
                "SELECT id FROM member WHERE id = ANY(%s) AND erased_at IS NOT NULL", ([m["id"] for m in members],)
            )
        }
        members = [m for m in members if m["id"] not in erased]  # an erased member never comes back
        rows = [_box_row(m, phone_hash(lookup_key, m["phone"]) if m["phone"] else None) for m in members]
        with conn.cursor() as cur:  # one round trip for the whole call
            cur.executemany(
                "INSERT INTO member (id, name, tier, phone_hash, marketing, facepay, home_store) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "tier = excluded.tier, phone_hash = excluded.phone_hash, marketing = excluded.marketing, "
                "facepay = excluded.facepay, home_store = excluded.home_store, updated_at = now() "
                "WHERE member.erased_at IS NULL",
                [(r["id"], r["name"], r["tier"], r["phone_hash"], r["marketing"], r["facepay"], m["home_store"])
                 for r, m in zip(rows, members, strict=True)],
            )  # fmt: skip
        versions = [publish(conn, None, "members", rows[i : i + CHUNK]) for i in range(0, len(rows), CHUNK)]
    return {"members": len(rows), "refused_erased": sorted(erased), "versions": versions}


def _publish_lock(conn: Conn) -> None:
    """Versions are numbered when inserted but seen when committed: a version committed after a
    higher one would be skipped by a box whose cursor already passed it. Publishers take this
    lock (held to their commit) before numbering a version, so versions commit in their order."""
    conn.execute("SELECT pg_advisory_xact_lock(7008)")


def publish(conn: Conn, store: str | None, kind: str, items: list[Any]) -> int:
    """A down-sync version for one store (None: every store), inside the caller's transaction."""
    _publish_lock(conn)
    row = conn.execute(
        "INSERT INTO downsync_version (store_id, kind, items) VALUES (%s, %s, %s) RETURNING version",
        (store, kind, Jsonb(items)),
    ).fetchone()
    assert row is not None
    return int(row[0])


def check_campaign(body: Any) -> dict[str, Any] | str:
    """A campaign: its id, the coupon every wallet receives, how many each, and to whom."""
    campaign = body.get("campaign") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(campaign, str) or not CAMPAIGN_ID.match(campaign):
        return "campaign is 1-40 letters, digits, '-' or '_'"
    kind, value, minimum = body.get("kind"), body.get("value"), body.get("min_spend_minor", 0)
    if kind not in ("percent", "fixed") or not isinstance(value, int) or isinstance(value, bool):
        return "kind is percent or fixed, with an integer value"
    if (kind == "percent" and not 1 <= value <= 90) or (kind == "fixed" and not 1 <= value <= 10**9):
        return "a percent coupon is 1 to 90, a fixed one 1 to 10^9 minor units"
    days, each, name = body.get("valid_days", 30), body.get("per_member", 1), body.get("name", "")
    if not isinstance(minimum, int) or not 0 <= minimum <= 10**9:
        return "min_spend_minor is 0 to 10^9"
    if not isinstance(days, int) or not 1 <= days <= 366 or not isinstance(each, int) or not 1 <= each <= 20:
        return "valid_days is 1 to 366 and per_member 1 to 20"
    members = body.get("members")
    if members is not None and (not isinstance(members, list) or not all(
            isinstance(m, str) and MEMBER_ID.match(m) for m in members)):  # fmt: skip
        return "members is a list of member ids, or absent for every member"
    if not isinstance(name, str) or len(name) > 80 or "\x00" in name:
        return "name is at most 80 characters"
    if body.get("offline_policy", "store") not in ("store", "refuse"):
        return "offline_policy is store or refuse"
    return {"campaign": body["campaign"], "k": kind, "v": value, "min": minimum, "days": days, "each": each,
            "n": name or "Member coupon", "off": body.get("offline_policy", "store"), "members": members}  # fmt: skip


def issue(conn: Conn, c: dict[str, Any]) -> dict[str, Any]:
    """Issue the campaign's coupons into wallets and send each store the wallets it serves.
    Issuing the same campaign again adds nothing twice (the serial is derived from it)."""
    with conn.transaction():
        cur = conn.execute(_ISSUE, c)
        issued = cur.rowcount
        versions = publish_wallets(conn, None, "w.campaign = %(campaign)s", {"campaign": c["campaign"]})
    return {"campaign": c["campaign"], "issued": issued, "versions": versions}


def publish_wallets(
    conn: Conn, stores: list[str] | None, which: LiteralString, params: dict[str, Any]
) -> dict[str, list[int]]:
    """`wallets` versions (store -> version numbers): the unused coupons `which` selects, for the
    stores that serve their members (`stores` narrows it; None: every such store)."""
    _publish_lock(conn)
    query = sql.SQL(_PUBLISH_WALLETS).format(which=sql.SQL(which))
    args = {"stores": stores, "days": WALLET_DAYS, "chunk": CHUNK, **params}
    out: dict[str, list[int]] = {}
    for store, version in conn.execute(query, args).fetchall():
        out.setdefault(store, []).append(int(version))
    return out


def erase(conn: Conn, member_id: str, reason: str) -> bool:
    """Erase a member everywhere: False when the cloud does not know them."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE member SET name = '', phone_hash = NULL, marketing = false, facepay = 'none', "
            "erased_at = coalesce(erased_at, now()), updated_at = now() WHERE id = %s RETURNING id",
            (member_id,),
        ).fetchone()
        if row is None:
            return False
        conn.execute(  # their coupons can never be reserved again (cloud/coupons.py refuses a committed key)
            "INSERT INTO coupon_use (use_key, coupon_id, store_id, holder, status, order_id) "
            "SELECT use_key, campaign, 'cloud', 'erasure', 'committed', 'erased' FROM wallet_coupon "
            "WHERE member_id = %s ON CONFLICT (use_key) DO UPDATE SET status = 'committed', "
            "order_id = 'erased', reserved_until = NULL WHERE coupon_use.status = 'reserved'",
            (member_id,),
        )
        conn.execute("DELETE FROM wallet_coupon WHERE member_id = %s", (member_id,))
        conn.execute("DELETE FROM member_seen WHERE member_id = %s", (member_id,))
        publish(conn, None, "members", [{"id": member_id, "erased": True}])
        publish(conn, None, "member_erasure", [{"member_id": member_id, "reason": reason[:64] or "cloud_erasure"}])
    return True


def apply_events(conn: Conn, store: str, events: list[tuple[str, str]]) -> None:
    """Inside an ingest batch's transaction, for the events it newly stored: an `order.paid`
    shows its member in this store (a first sight, or the first in WALLET_DAYS, pushes their
    wallet here) and marks the wallet coupons it redeemed used in every store; an
    `order.voided` gives those coupons back (cloud/coupons.py freed their use first)."""
    used: list[str] = []
    for kind, raw in events:
        payload = json.loads(raw) if kind in ("order.paid", "order.voided") else None
        if not isinstance(payload, dict):
            continue
        if kind == "order.voided":
            _give_back(conn, store, payload.get("order_id"))
            continue
        member = payload.get("member_id")
        if isinstance(member, str) and MEMBER_ID.match(member):
            _seen(conn, store, member)
        listed = payload.get("coupons")
        for c in listed if isinstance(listed, list) else []:
            if isinstance(c, dict) and isinstance(c.get("use_key"), str) and c.get("chain") not in (None, "local"):
                used.append(c["use_key"][:200])
    spend(conn, used)


def commit_redeemed(conn: Conn, store: str, holder: str, keys: list[str], order: str) -> int:
    """A box says its reservations are redeemed (cloud/coupons.py commit): its wallet coupons are
    dropped from every store's wallets at once, not only when the order's event arrives."""
    changed = coupons.commit(conn, store, holder, keys, order)
    with conn.transaction():
        spend(conn, keys)
    return changed


def spend(conn: Conn, use_keys: list[str]) -> None:
    """The wallet coupons among these use keys are used: every store drops them (a chain-wide
    `wallets` version), so no store offers a coupon the chain would refuse."""
    spent = conn.execute("SELECT use_key FROM wallet_coupon WHERE use_key = ANY(%s)", (use_keys,)).fetchall()
    if spent:
        publish(conn, None, "wallets", [{"use_key": r[0], "status": "used"} for r in spent])


def _seen(conn: Conn, store: str, member: str) -> None:
    row = conn.execute(
        "WITH before AS (SELECT last_seen FROM member_seen WHERE member_id = %(m)s AND store_id = %(s)s) "
        "INSERT INTO member_seen (member_id, store_id) SELECT id, %(s)s FROM member "
        "WHERE id = %(m)s AND erased_at IS NULL ON CONFLICT (member_id, store_id) DO UPDATE "
        "SET last_seen = now() RETURNING (SELECT b.at IS NULL OR b.at < now() - make_interval(days => %(d)s) "
        "FROM (SELECT max(last_seen) AS at FROM before) b)",
        {"m": member, "s": store, "d": WALLET_DAYS},
    ).fetchone()
    if row is not None and row[0]:  # new here, or back after the store stopped keeping their wallet
        publish_wallets(conn, [store], "w.member_id = %(member)s", {"member": member})


def _give_back(conn: Conn, store: str, order: Any) -> None:
    """A voided order's wallet coupons go back to the wallets of the stores that serve the member."""
    if not isinstance(order, str) or not 0 < len(order) <= 64:
        return
    row = conn.execute(
        "SELECT payload->'coupons' FROM edge_event WHERE kind = 'order.paid' AND store_id = %s "
        "AND payload->>'order_id' = %s LIMIT 1",
        (store, order),
    ).fetchone()
    keys = [c["use_key"] for c in (row[0] if row and isinstance(row[0], list) else [])
            if isinstance(c, dict) and isinstance(c.get("use_key"), str)]  # fmt: skip
    if keys:
        publish_wallets(conn, None, "w.use_key = ANY(%(keys)s)", {"keys": keys})


def history(conn: Conn, member_id: str, limit: int = 100) -> list[dict[str, Any]] | None:
    """The member's receipts from every store, newest first: what their orders' events said;
    None for a member the cloud does not know, or erased (the books keep the orders, not them)."""
    with conn.transaction():  # first: the pool rolls back whatever a request leaves open
        known = conn.execute("SELECT 1 FROM member WHERE id = %s AND erased_at IS NULL", (member_id,)).fetchone()
        if known is None:
            return None
        rows = conn.execute(
            "SELECT e.store_id, e.payload->>'order_id', e.created_at, e.payload->'pricing', "
            "EXISTS (SELECT 1 FROM edge_event v WHERE v.kind = 'order.voided' AND v.store_id = e.store_id "
            "        AND v.payload->>'order_id' = e.payload->>'order_id') "
            "FROM edge_event e WHERE e.kind = 'order.paid' AND e.payload->>'member_id' = %s "
            "ORDER BY e.created_at DESC LIMIT %s",
            (member_id, limit),
        ).fetchall()
    return [_receipt(r[0], r[1], r[2], r[3] if isinstance(r[3], dict) else {}, bool(r[4])) for r in rows]


def _receipt(store: str, order: str, at: Any, pricing: dict[str, Any], voided: bool) -> dict[str, Any]:
    listed = pricing.get("lines")
    lines: list[Any] = listed if isinstance(listed, list) else []
    return {
        "store_id": store, "order_id": order, "created_at": at.isoformat(), "voided": voided,
        "currency": pricing.get("currency"), "total_minor": pricing.get("total_minor"),
        "lines": [{k: ln.get(k) for k in ("gtin", "name", "qty", "net_minor")} for ln in lines if isinstance(ln, dict)],
    }  # fmt: skip
