"""Risk-scored exit audits (edge/checkout/audits.py): which baskets a person rescans, and why."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from edge.checkout.audits import Risk, decide, score
from edge.checkout.cartread import CartRow
from edge.checkout.settings import AuditSettings
from edge.platform.timeutil import utcnow

CFG = AuditSettings()


def row(n: int, at: datetime, *, restricted: bool = False, weighed: bool = False) -> CartRow:
    return CartRow(
        n, f"0690123400{n:04d}", f"0690123400{n:04d}", 1, "weight" if weighed else "", 500 if weighed else 0,
        f"item {n}", 1000, None, "", "standard", weighed, restricted, None if n else date.today(), at,
    )  # fmt: skip


def basket(owner: str = "phone-abcdefghijklmnop", **kw: object) -> Risk:
    start = kw.pop("started", None)
    if not isinstance(start, datetime):
        start = utcnow() - timedelta(minutes=20)
    rows = kw.pop("rows", [row(1, start + timedelta(minutes=1)), row(2, start + timedelta(minutes=2))])
    args = {"total_minor": 3000, "member_id": "m-1", "past": [], **kw}
    return score(CFG, owner=owner, rows=rows, started=start, **args)  # type: ignore[arg-type]


def test_a_small_kiosk_basket_of_a_member_scores_nothing() -> None:
    risk = basket(owner="kiosk-1")
    assert risk.points == 0 and risk.reasons == []
    flagged, reasons = decide(CFG, 0.0, risk, random.Random(1))
    assert not flagged and reasons == ""


def test_each_signal_adds_its_points_and_says_why() -> None:
    assert basket().reasons == ["phone"]
    assert basket(member_id=None).reasons == ["phone", "no_member"]
    assert basket(total_minor=CFG.value_minor).points == CFG.phone_points + CFG.value_points
    assert basket(total_minor=2 * CFG.value_minor).points == CFG.phone_points + 2 * CFG.value_points
    start = utcnow() - timedelta(minutes=20)
    restricted = [row(1, start, restricted=True)]
    assert "restricted" in basket(rows=restricted).reasons
    weighed = [row(n, start, weighed=True) for n in range(1, 6)]
    assert basket(rows=weighed).points == CFG.phone_points + 3 * CFG.weighed_points, "three weighed lines at most"


def test_long_pauses_between_phone_scans_are_gaps() -> None:
    start = utcnow() - timedelta(minutes=40)
    rows = [row(n, start + timedelta(minutes=m)) for n, m in ((1, 1), (2, 15), (3, 30))]
    risk = basket(rows=rows, started=start)
    assert "scan_gap" in risk.reasons and risk.points == CFG.phone_points + 2 * CFG.scan_gap_points
    assert "scan_gap" not in basket(owner="kiosk-1", rows=rows, started=start).reasons, (
        "a kiosk basket is scanned in one go"
    )


def test_a_members_history_counts_both_ways() -> None:
    assert basket(past=["mismatch"]).points == CFG.phone_points + CFG.mismatch_points
    assert basket(past=["mismatch"] * 5).points == CFG.phone_points + 2 * CFG.mismatch_points
    trusted = basket(past=["match", "match", "match", "mismatch"])
    assert "trusted" in trusted.reasons and "history" in trusted.reasons


def test_the_threshold_flags_and_the_random_share_still_reaches_everyone() -> None:
    risky = basket(member_id=None, total_minor=2 * CFG.value_minor)
    assert risky.points >= CFG.risk_threshold
    flagged, reasons = decide(CFG, 0.0, risky, random.Random(1))
    assert flagged and reasons.split(",") == risky.reasons
    calm = basket()
    hits = sum(decide(CFG, 0.25, calm, random.Random(seed))[0] for seed in range(400))
    assert 60 < hits < 140, "about a quarter of calm baskets are checked at random"
    assert decide(CFG, 1.0, calm, random.Random(1)) == (True, "random")
