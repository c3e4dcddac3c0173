"""Chain benchmark, members and wallets: the phase scripts/bench/chain.py runs after its coupon phases.

1. Members: `members` members (half at home in bench-a, half in bench-b) are upserted at the
   cloud in calls of 10,000; `members_downsync_s` runs from the first call until both boxes hold
   them all (`members_upsert_s`: the calls themselves).
2. Wallets: one campaign puts `each` coupons (10 % off, no minimum spend) into every wallet;
   `wallet_downsync_s` runs from the campaign's POST until each box holds the wallets of its home
   members, so it includes the cloud's issue and publishing (`campaign_issue_s`: the POST alone).
3. Redemption: `rounds` rounds on every kiosk pair, in turn:
   - `home`: a member not used before scans their signed member code at the bench-a kiosk; one
     wallet coupon must apply by itself (`wallet_not_applied` counts those where none did), and
     the checkout is timed;
   - `contested`: a fresh member scans at both kiosks at the same moment and both pay. Their
     wallet is only at their home store, so bench-b applies nothing (`wallet_applied_away`
     counts the bench-b carts that did: expected 0);
   - `both`: a member of an earlier contested round, whose wallet bench-b has received since
     (the cloud pushes it on the first sight), at both kiosks at once: both carts hold the same
     coupon, and the chain lets one of them pay with it (`wallet_contest_refused`: the other's
     409 `wallet_coupon_used`, the coupon taken off that cart). Without such a member yet, the
     round is a `home` round.

Figures: `wallet_redemptions` (paid orders with a wallet coupon), `wallet_double_redemptions`
(use keys paid by two orders per the cloud's `order.paid` events, or committed twice in its
`coupon_use`: must be 0), `wallet_uses_committed` (the cloud's committed uses of the campaign,
once every order arrived: equals the redemptions) and `wallet_checkout_p50_ms` / `_p99_ms`.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from chain_phone import Phone, entry_code
from stats import pct

from cloud.harness import Receiver
from edge.demo.gtins import GROCERY
from edge.platform.codes import Codes
from edge.platform.security import SecretStore
from tests.support.waits import wait_for

if TYPE_CHECKING:
    from chain import Kiosk

HOME, AWAY = "bench-a", "bench-b"
CAMPAIGN = "bench-wallets"
BATCH = 10_000  # members per admin call (the cloud's limit)
TIMEOUT_S = 1800.0
PHONE_PAIRS = 2  # a phone at each store, twice, beside the kiosk pairs
TEA = GROCERY[0][0]
MEMBERS_SQL = "SELECT count(*) FROM checkout_member WHERE id >= 'bm-' AND id < 'bm.'"
WALLETS_SQL = "SELECT count(*) FROM checkout_wallet_coupon WHERE use_key > ? AND use_key < ?"
KEYS = (f"{CAMPAIGN}:", f"{CAMPAIGN};")  # every use key of the campaign sorts between the two
CURSOR_SQL = "SELECT value FROM sync_state WHERE key = 'downsync.cursor'"
MEMBER_KEYS_SQL = "SELECT use_key FROM checkout_wallet_coupon WHERE member_id = ? ORDER BY use_key"
CLOUD_ACTIVE = (
    "SELECT coalesce(string_agg(left(regexp_replace(query, '\\s+', ' ', 'g'), 40) || ' ' || "
    "round(extract(epoch FROM now() - query_start))::text || 's', ' | '), '-') FROM pg_stat_activity "
    "WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()"
)
KINDS = ("home", "contested", "both")
# the chain refused the other box's use: `wallet_coupon_used` (the coupon left that cart), or
# `coupon_used` from a box older than that answer
REFUSED = ("wallet_coupon_used", "coupon_used")
FIGURES = ("members", "members_upsert_s", "members_downsync_s", "wallet_coupons_issued", "campaign_issue_s",
           "wallet_downsync_s", "wallet_redemptions", "wallet_phone_redemptions", "wallet_double_redemptions",
           "wallet_checkout_p50_ms", "wallet_checkout_p99_ms")  # fmt: skip


def member_id(i: int) -> str:
    return f"bm-{i:06d}"


def home_of(i: int) -> str:
    return HOME if i % 2 == 0 else AWAY


def box_rows(data: Path, sql: str, *params: Any) -> list[Any]:
    """Rows from a box's SQLite, read-only beside its running daemon."""
    conn = sqlite3.connect(f"file:{data / 'edge.db'}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def box_count(data: Path, sql: str, *params: Any) -> int:
    return int(box_rows(data, sql, *params)[0][0])


def box_cursor(data: Path) -> int:
    rows = box_rows(data, CURSOR_SQL)
    return int(json.loads(rows[0][0])) if rows else 0


def cloud_one(dsn: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def until(what: str, t0: float, targets: Mapping[str, tuple[Callable[[], int], int]],
          also: Mapping[str, Callable[[], Any]], failed: Callable[[], str] = lambda: "") -> float:  # fmt: skip
    """Seconds from t0 until every target's probe reaches its figure; progress on stderr every
    ~10 s (the targets, and `also`: where the time goes)."""
    shown = time.monotonic()
    while True:
        seen = {name: probe() for name, (probe, _) in targets.items()}
        now = time.monotonic()
        if all(seen[name] >= want for name, (_, want) in targets.items()):
            return round(now - t0, 2)
        if failed():
            raise RuntimeError(f"{what}: {failed()}")
        if now - shown >= 10 or now - t0 > TIMEOUT_S:
            shown = now
            extra = ", ".join(f"{name} {probe()}" for name, probe in also.items())
            done = ", ".join(f"{name} {seen[name]}/{want}" for name, (_, want) in targets.items())
            print(f"  [{what} {now - t0:.0f}s] {done}; {extra}", file=sys.stderr, flush=True)
        if now - t0 > TIMEOUT_S:
            raise TimeoutError(f"{what}: not done after {TIMEOUT_S:.0f}s")
        time.sleep(0.25)


def load_members(rx: Receiver, dsn: str, dirs: dict[str, Path], members: int) -> dict[str, Any]:
    t0 = time.monotonic()
    for lo in range(0, members, BATCH):
        rows = [{"id": member_id(i), "name": f"Bench member {i}", "tier": "silver", "phone": None,
                 "home_store": home_of(i), "marketing": False, "facepay": "none"}
                for i in range(lo, min(members, lo + BATCH))]  # fmt: skip
        r = rx.admin("PUT", "/v1/admin/members", {"members": rows}, timeout=600)
        assert r.status_code == 200, f"member upsert: {r.status_code} {r.text[:300]}"
    upsert_s = round(time.monotonic() - t0, 2)
    targets = {s: (partial(box_count, d, MEMBERS_SQL), members) for s, d in dirs.items()}
    also: dict[str, Callable[[], Any]] = {f"{s} cursor": partial(box_cursor, d) for s, d in dirs.items()}
    also["cloud latest"] = lambda: cloud_one(dsn, "SELECT max(version) FROM downsync_version")
    return {"members": members, "members_upsert_s": upsert_s, "members_downsync_s": until("members", t0, targets, also)}


def issue_wallets(rx: Receiver, dsn: str, dirs: dict[str, Path], members: int, each: int) -> dict[str, Any]:
    homes = {s: sum(1 for i in range(members) if home_of(i) == s) for s in dirs}
    answer: dict[str, Any] = {}
    body = {"campaign": CAMPAIGN, "kind": "percent", "value": 10, "min_spend_minor": 0, "per_member": each,
            "valid_days": 30, "name": "Bench wallet coupon"}  # fmt: skip

    def post() -> None:
        t = time.monotonic()
        try:
            r = rx.admin("POST", "/v1/admin/campaigns", body, timeout=TIMEOUT_S)
            answer.update(status=r.status_code, s=round(time.monotonic() - t, 2))
            answer.update({"body": r.json()} if r.status_code == 201 else {"text": r.text[:300]})
        except Exception as exc:
            answer.update(status=0, text=repr(exc)[:300])

    t0 = time.monotonic()
    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    targets = {s: (partial(box_count, d, WALLETS_SQL, *KEYS), homes[s] * each) for s, d in dirs.items()}
    also: dict[str, Callable[[], Any]] = {f"{s} cursor": partial(box_cursor, d) for s, d in dirs.items()}
    also["campaign POST"] = lambda: answer.get("s", "running")
    also["cloud wallets versions"] = partial(cloud_one, dsn, "SELECT count(*) FROM downsync_version WHERE kind = %s",
                                             "wallets")  # fmt: skip
    also["cloud active"] = lambda: cloud_one(dsn, CLOUD_ACTIVE)

    def failed() -> str:
        return "" if answer.get("status", 201) == 201 else f"the campaign POST answered {answer}"

    downsync_s = until("wallets", t0, targets, also, failed)
    thread.join(TIMEOUT_S)
    assert answer.get("status") == 201, answer
    issued = answer["body"]
    return {"wallet_coupons_issued": issued["issued"],
            "campaign_issue_s": answer["s"], "wallet_downsync_s": downsync_s,
            "wallet_versions": {s: len(v) for s, v in issued["versions"].items()}}  # fmt: skip


def delivered(data: Path) -> bool:
    return bool(json.loads((data / "secrets" / "member.keys.json").read_text()).get("delivered"))


def visit(out: list[dict[str, Any]], kind: str, box: str, k: Kiosk, mid: str, code: str,
          gates: tuple[threading.Barrier, threading.Barrier] | None) -> None:  # fmt: skip
    """One member's cart of tea at one kiosk: attach the member code (after the first gate), pay
    (after the second). Every outcome is recorded, an exception too."""
    e: dict[str, Any] = {"kind": kind, "box": box, "member": mid, "applied": 0, "wallet": 0, "status": -1,
                         "ms": 0.0, "code": "", "order": "", "device": type(k).__name__.lower()}  # fmt: skip
    try:
        sid = k.cart()
        if gates is not None:
            gates[0].wait(30)
        r = k.attach(sid, code)
        if r.status_code != 200:
            e.update(status=r.status_code, code=r.json()["error"]["code"])
            if gates is not None:
                gates[1].abort()
        else:
            view = r.json()
            e.update(applied=sum(1 for c in view["coupons"] if c.get("wallet")), wallet=len(view["wallet"]))
            status, ms, err, order = k.pay(sid, gates[1] if gates is not None else None)
            e.update(status=status, ms=ms, code=err, order=order)
    except Exception as exc:
        e["code"] = type(exc).__name__
    out.append(e)


class Rounds:
    """The redemption rounds on every kiosk pair, sharing the supply of fresh home members."""

    def __init__(self, dirs: dict[str, Path], codes: Codes, members: int, each: int) -> None:
        self.dirs, self.codes, self.each = dirs, codes, each
        self.fresh = iter(range(0, members, 2))  # members at home in bench-a (home_of)
        self.lock = threading.Lock()
        self.log: list[dict[str, Any]] = []
        self.not_delivered = 0  # `both` rounds whose member's wallet never reached bench-b in time

    def take(self) -> str:
        with self.lock:
            return member_id(next(self.fresh))

    def same_wallet(self, mid: str, left: int) -> bool:
        """Both boxes hold the same `left` unused coupons of this member."""
        keys = [box_rows(d, MEMBER_KEYS_SQL, mid) for d in self.dirs.values()]
        return len(keys[0]) == left and keys[0] == keys[1]

    def play(self, kind: str, mid: str, a: Kiosk, b: Kiosk) -> list[dict[str, Any]]:
        code = self.codes.member_code(mid)
        out: list[dict[str, Any]] = []
        if kind == "home":
            visit(out, kind, HOME, a, mid, code, None)
        else:
            gates = (threading.Barrier(2), threading.Barrier(2))
            threads = [threading.Thread(target=visit, args=(out, kind, box, k, mid, code, gates))
                       for box, k in ((HOME, a), (AWAY, b))]  # fmt: skip
            for t in threads:
                t.start()
            for t in threads:
                t.join(90)
        with self.lock:
            self.log.extend(out)
        return out

    def pair(self, n: int, a: Kiosk, b: Kiosk, rounds: int) -> None:
        seen_away: list[tuple[str, int]] = []  # (member, wallet coupons left) paid at bench-b
        for r in range(rounds):
            kind = KINDS[(r + n) % 3]
            if kind == "both" and seen_away:
                mid, left = seen_away.pop(0)
            else:
                kind = "home" if kind == "both" else kind  # no member seen at bench-b yet
                mid, left = self.take(), self.each
            if kind == "both":
                try:
                    wait_for(partial(self.same_wallet, mid, left), 60, f"{mid}'s wallet at both boxes")
                except AssertionError:
                    with self.lock:
                        self.not_delivered += 1
                    kind = "home"
            out = self.play(kind, mid, a, b)
            left -= sum(1 for e in out if e["status"] == 200 and e["applied"])
            if kind == "contested" and left > 0 and any(e["box"] == AWAY and e["status"] == 200 for e in out):
                seen_away.append((mid, left))

    def run(self, pairs: list[tuple[Kiosk, Kiosk]], rounds: int) -> None:
        threads = [threading.Thread(target=self.pair, args=(n, a, b, rounds)) for n, (a, b) in enumerate(pairs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def redeem(dsn: str, dirs: dict[str, Path], pairs: list[tuple[Kiosk, Kiosk]], members: int, each: int,
           rounds: int) -> dict[str, Any]:  # fmt: skip
    for d in dirs.values():  # the chain's member ring, delivered by the cloud: both boxes verify its codes
        wait_for(partial(delivered, d), 120, f"the member ring at {d.name}", ignore=(OSError, ValueError))
    play = Rounds(dirs, Codes(SecretStore(dirs[HOME])), members, each)
    bases = (str(pairs[0][0].http.base_url), str(pairs[0][1].http.base_url))
    phones = [(Phone(bases[0], entry_code(dirs[HOME], HOME), TEA), Phone(bases[1], entry_code(dirs[AWAY], AWAY), TEA))
              for _ in range(PHONE_PAIRS)]  # shoppers' phones redeem beside the kiosks  # fmt: skip
    play.run([*pairs, *phones], rounds)  # type: ignore[list-item]  # a Phone answers as a Kiosk does
    log = play.log
    orders = [e["order"] for e in log if e["status"] == 200]

    def arrived() -> bool:
        n = cloud_one(dsn, "SELECT count(*) FROM edge_event WHERE kind = 'order.paid' "
                      "AND payload->>'order_id' = ANY(%s)", orders)  # fmt: skip
        return bool(n >= len(orders))

    wait_for(arrived, 120, "every wallet order to reach the cloud")
    with psycopg.connect(dsn) as conn:
        used = conn.execute(
            "SELECT c->>'use_key', count(DISTINCT e.payload->>'order_id') FROM edge_event e, "
            "jsonb_array_elements(e.payload->'coupons') c WHERE e.kind = 'order.paid' AND c->>'coupon_id' = %s "
            "GROUP BY 1",
            (CAMPAIGN,),
        ).fetchall()
        committed = conn.execute(
            "SELECT use_key, count(*) FROM coupon_use WHERE coupon_id = %s AND status = 'committed' GROUP BY 1",
            (CAMPAIGN,),
        ).fetchall()
    paid = [e for e in log if e["status"] == 200]
    with_wallet = [e for e in paid if e["applied"]]
    return {
        "wallet_rounds": {k: sum(1 for e in log if e["kind"] == k and e["box"] == HOME) for k in KINDS},
        "wallet_redemptions": len(with_wallet),
        "wallet_phone_redemptions": sum(1 for e in with_wallet if e["device"] == "phone"),
        "wallet_double_redemptions": sum(1 for _, n in used if n > 1) + sum(1 for _, n in committed if n > 1),
        "wallet_uses_paid": len(used), "wallet_uses_committed": len(committed),
        "wallet_not_applied": sum(1 for e in log if e["box"] == HOME and e["status"] != -1 and e["applied"] != 1
                                  and e["kind"] != "both"),
        "wallet_applied_away": sum(e["applied"] for e in log if e["box"] == AWAY and e["kind"] == "contested"),
        "wallet_contest_refused": sum(1 for e in log if e["kind"] == "both" and e["code"] in REFUSED),
        "wallet_contest_not_delivered": play.not_delivered,
        "wallet_checkout_p50_ms": pct([e["ms"] for e in with_wallet], 0.5),
        "wallet_checkout_p99_ms": pct([e["ms"] for e in with_wallet], 0.99),
        "wallet_orders": len(paid),
        "wallet_errors": sum(1 for e in log if e["status"] not in (200, 409)),
    }  # fmt: skip


def wallet_phase(rx: Receiver, dsn: str, dirs: dict[str, Path], pairs: list[tuple[Kiosk, Kiosk]], members: int,
                 each: int, rounds: int) -> dict[str, Any]:  # fmt: skip
    """Members, a campaign into their wallets, and redemptions at the kiosks: the figures."""
    f = load_members(rx, dsn, dirs, members)
    print(f"  members: {f}", file=sys.stderr, flush=True)
    f |= issue_wallets(rx, dsn, dirs, members, each)
    print(f"  wallets: {f}", file=sys.stderr, flush=True)
    return f | redeem(dsn, dirs, pairs, members, each, rounds)


def rows(f: dict[str, Any]) -> list[tuple[str, Any, str, str]]:
    """This phase's lines in chain.py's table: (name, value, target, beside)."""
    if f.get("wallet_redemptions") is None:
        return [("members and wallets", "skipped (--skip-wallets)", "", "")]

    def mark(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    double, p99 = f["wallet_double_redemptions"], f["wallet_checkout_p99_ms"]
    return [
        ("members / down-sync s (upsert calls s)", f"{f['members']} / {f['members_downsync_s']}",
         "", f"upsert {f['members_upsert_s']}"),
        ("wallet coupons / down-sync s (campaign POST s)", f"{f['wallet_coupons_issued']} / "
         f"{f['wallet_downsync_s']}", "", f"POST {f['campaign_issue_s']}"),
        ("wallet orders / redeemed / committed at the cloud", f"{f['wallet_orders']} / {f['wallet_redemptions']}"
         f" / {f['wallet_uses_committed']}", f"equal  {mark(f['wallet_redemptions'] == f['wallet_uses_committed'])}",
         f"on phones {f['wallet_phone_redemptions']}"),
        ("wallet double redemptions", double, f"0  {mark(double == 0)}", ""),
        ("home carts without a wallet coupon / away applied", f"{f['wallet_not_applied']} / "
         f"{f['wallet_applied_away']}", f"0 / 0  {mark(f['wallet_not_applied'] + f['wallet_applied_away'] == 0)}",
         ""),
        ("same coupon at both boxes: the other refused", f["wallet_contest_refused"], "",
         f"rounds {f['wallet_rounds']}"),
        ("wallet checkout p50 / p99 ms", f"{f['wallet_checkout_p50_ms']} / {p99}",
         f"p99 <= 150  {mark(p99 is not None and p99 <= 150)}", ""),
        ("wallet errors", f["wallet_errors"], f"0  {mark(f['wallet_errors'] == 0)}", ""),
    ]  # fmt: skip
