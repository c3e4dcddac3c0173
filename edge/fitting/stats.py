"""Response-time stats per guide (open->claimed, claimed->resolved), for the dashboard."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import timedelta

from sqlmodel import col, select

from edge.fitting.models import FittingCall, GuideStats
from edge.platform.store import Store
from edge.platform.timeutil import as_utc, utcnow


def guide_stats(store: Store, days: int = 7) -> list[GuideStats]:
    since = utcnow() - timedelta(days=days)
    claims: dict[str, list[float]] = defaultdict(list)
    resolves: dict[str, list[float]] = defaultdict(list)
    with store.read() as s:
        rows = s.exec(
            select(FittingCall).where(col(FittingCall.guide_id).is_not(None), col(FittingCall.opened_at) >= since)
        ).all()
    for c in rows:
        gid = str(c.guide_id)
        if c.claimed_at is not None:
            claims[gid].append((as_utc(c.claimed_at) - as_utc(c.opened_at)).total_seconds())
            if c.resolved_at is not None:
                resolves[gid].append((as_utc(c.resolved_at) - as_utc(c.claimed_at)).total_seconds())

    def p50(v: list[float]) -> float | None:
        return round(statistics.median(v), 3) if v else None

    def avg(v: list[float]) -> float | None:
        return round(statistics.fmean(v), 3) if v else None

    return [
        GuideStats(
            guide_id=g,
            claimed=len(claims[g]),
            resolved=len(resolves[g]),
            claim_p50_s=p50(claims[g]),
            claim_avg_s=avg(claims[g]),
            resolve_p50_s=p50(resolves[g]),
            resolve_avg_s=avg(resolves[g]),
        )
        for g in sorted(claims)
    ]
