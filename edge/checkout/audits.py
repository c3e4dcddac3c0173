"""Which exit passes a person checks: a risk score computed on the box, plus a random share.

Phone scan-and-go is where shrink happens (an item picked up and never scanned), so audits are
not only random: points for a large basket, restricted and weighed lines, long gaps between
scans on a phone, a long visit, a phone shopper with no membership, and the member's own audit
history (a past mismatch counts heavily; a run of clean audits earns trust). A pass is flagged
at `risk_threshold` points, or at random with `audit_share`, so every shopper can be checked.
Everything is read from this box's own tables: it works through a cloud outage.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select

from edge.checkout.cartread import CartRow
from edge.checkout.contract import PHONE_PREFIX
from edge.checkout.models import ExitAudit, Order
from edge.checkout.settings import AuditSettings
from edge.platform.errors import Conflict, InvalidInput, NotFound
from edge.platform.store import ReadTx, Store, Tx
from edge.platform.timeutil import as_utc, utcnow

_AUDIT: Table = ExitAudit.__table__  # type: ignore[attr-defined]
_HISTORY = (
    select(_AUDIT.c.result).where(_AUDIT.c.member_id == bindparam("mid")).order_by(_AUDIT.c.created_at.desc()).limit(20)
)


@dataclass
class Risk:
    points: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, reason: str, points: int) -> None:
        if points:
            self.points += points
            self.reasons.append(reason)


def history(s: ReadTx, member_id: str | None) -> list[str]:
    """The member's last audit results, newest first ([] for no member)."""
    if not member_id:
        return []
    return [str(r[0]) for r in s.run(_HISTORY, {"mid": member_id}).all()]


def _gaps_s(times: Iterable[datetime], started: datetime) -> list[float]:
    stamps = sorted([as_utc(started), *(as_utc(t) for t in times)])
    return [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]


def score(
    cfg: AuditSettings,
    *,
    owner: str,
    total_minor: int,
    rows: Iterable[CartRow],
    started: datetime,
    member_id: str | None,
    past: list[str],
) -> Risk:
    """The points of one basket and why (pure: the tests and the docs' examples call it)."""
    rows = list(rows)
    risk = Risk()
    phone = owner.startswith(PHONE_PREFIX)
    if total_minor >= cfg.value_minor:
        risk.add("value", cfg.value_points * (2 if total_minor >= 2 * cfg.value_minor else 1))
    risk.add("restricted", cfg.restricted_points if any(r.age_restricted for r in rows) else 0)
    weighed = sum(1 for r in rows if r.weighed or r.measure_kind)
    risk.add("weighed", min(weighed * cfg.weighed_points, 3 * cfg.weighed_points))
    if phone:
        risk.add("phone", cfg.phone_points)
        gaps = [g for g in _gaps_s((r.added_at for r in rows), started) if g > cfg.scan_gap_s]
        risk.add("scan_gap", min(len(gaps), 2) * cfg.scan_gap_points)
        risk.add("no_member", cfg.no_member_points if not member_id else 0)
    if (utcnow() - as_utc(started)).total_seconds() > cfg.long_visit_s:
        risk.add("long_visit", cfg.long_visit_points)
    mismatches = sum(1 for r in past if r == "mismatch")
    risk.add("history", min(mismatches, 2) * cfg.mismatch_points)
    if len(past) >= 3 and all(r == "match" for r in past[:3]):
        risk.add("trusted", -cfg.trust_points)
    return risk


def decide(cfg: AuditSettings, share: float, risk: Risk, rng: random.Random) -> tuple[bool, str]:
    """(flagged, reasons as stored on the pass)."""
    reasons = list(risk.reasons) if risk.points >= cfg.risk_threshold else []
    if rng.random() < share:
        reasons.append("random")
    return bool(reasons), ",".join(reasons)[:200]


def record(
    store: Store, order_id: str, result: str, missing: list[dict[str, Any]], reason: str, actor: str
) -> dict[str, Any]:
    """A staff rescan's result for one paid order (once: a second answer is refused, 409)."""
    with store.write() as s:
        return record_in(s, order_id, result, missing, reason, actor)


def record_in(
    s: Tx, order_id: str, result: str, missing: list[dict[str, Any]], reason: str, actor: str
) -> dict[str, Any]:
    """The same, inside the caller's transaction (a staff task's answer)."""
    if result == "waved" and not reason.strip():
        raise InvalidInput("say why the basket was waved through", code="reason_required")
    if result == "mismatch" and not missing:
        raise InvalidInput("list the items that were not paid for", code="missing_items_required")
    order = s.get(Order, order_id)
    if order is None:
        raise NotFound("no such order", code="unknown_order")
    if s.get(ExitAudit, order_id) is not None:
        raise Conflict("this order's exit audit is already recorded", code="audit_recorded")
    row = ExitAudit(
        order_id=order_id, member_id=order.member_id, result=result, missing=json.dumps(missing),
        reason=reason, actor=actor[:80],
    )  # fmt: skip
    s.add(row)
    s.audit(actor, f"checkout.exit_audit_{result}", order_id, missing=missing, reason=reason)
    s.outbox("orders", "exit_audit.recorded", {"order_id": order_id, "result": result, "missing": missing})
    return {"order_id": order_id, "result": result, "member_id": order.member_id, "missing": missing}
