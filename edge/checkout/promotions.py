"""Promotion rules as stored (JSON) and parsed for the pricing engine.

Kinds:
- multibuy: {"gtins": [...]} or {"category": "..."}; either {"buy": N, "price_minor": X}
  (N for X) or {"buy": N, "free": M} (buy N get M free, the cheapest units free).
- threshold: {"tiers": [[spend_minor, off_minor], ...], "exclude_categories": [...]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge.checkout.models import Promotion
from edge.platform.errors import InvalidInput
from edge.platform.timeutil import as_utc


@dataclass(frozen=True)
class MultiBuy:
    id: str
    name: str
    gtins: frozenset[str]
    category: str
    buy: int
    price_minor: int | None = None  # N for X
    free: int = 0  # buy N get M free
    priority: int = 100

    def matches(self, gtin: str, category: str) -> bool:
        return gtin in self.gtins or (bool(self.category) and category == self.category)


@dataclass(frozen=True)
class Threshold:
    id: str
    name: str
    tiers: tuple[tuple[int, int], ...]  # (spend, off), sorted by spend
    exclude_categories: frozenset[str] = field(default_factory=frozenset)
    priority: int = 100


def _dt(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return as_utc(datetime.fromisoformat(str(value)))
    except ValueError:
        raise InvalidInput(f"not an ISO timestamp: {str(value)[:40]!r}", code="bad_promotion") from None


def parse_promotion(data: dict[str, Any]) -> Promotion:
    """Validate one promotion definition into its table row (raises InvalidInput)."""
    from edge.platform import gs1

    if not isinstance(data, dict):
        raise InvalidInput("a promotion is an object", code="bad_promotion")
    pid = str(data.get("id", "")).strip()
    if not pid or len(pid) > 64:
        raise InvalidInput("a promotion needs an id of 1-64 characters", code="bad_promotion")
    kind = data.get("kind")
    rule: dict[str, Any]
    try:
        if kind == "multibuy":
            buy = int(data["buy"])
            rule = {
                "gtins": sorted(gs1.normalise_gtin(str(g)) for g in data.get("gtins", [])),
                "category": str(data.get("category", "")),
                "buy": buy,
            }
            if not rule["gtins"] and not rule["category"]:
                raise InvalidInput("a multibuy names gtins or a category", code="bad_promotion")
            if "price_minor" in data:
                rule["price_minor"] = int(data["price_minor"])
                if not (2 <= buy <= 100 and rule["price_minor"] > 0):
                    raise InvalidInput("N for X needs N >= 2 and X > 0", code="bad_promotion")
            else:
                rule["free"] = int(data["free"])
                if not (1 <= buy <= 100 and 1 <= rule["free"] <= 100):
                    raise InvalidInput("buy N get M needs N >= 1 and M >= 1", code="bad_promotion")
        elif kind == "threshold":
            tiers = sorted((int(a), int(b)) for a, b in data["tiers"])
            if not tiers or any(off <= 0 or off >= spend for spend, off in tiers):
                raise InvalidInput("threshold tiers are [spend, off] with 0 < off < spend", code="bad_promotion")
            rule = {
                "tiers": tiers,
                "exclude_categories": sorted(str(c) for c in data.get("exclude_categories", [])),
            }
        else:
            raise InvalidInput("promotion kind is multibuy or threshold", code="bad_promotion")
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"promotion {pid} is incomplete: {exc}", code="bad_promotion") from None
    return Promotion(
        id=pid,
        kind=str(kind),
        name=str(data.get("name", pid))[:120],
        rule=json.dumps(rule),
        priority=int(data.get("priority", 100)),
        starts_at=_dt(data.get("starts_at")),
        ends_at=_dt(data.get("ends_at")),
        active=bool(data.get("active", True)),
    )


def load_rules(rows: Iterable[Any], now: datetime) -> tuple[list[MultiBuy], list[Threshold]]:
    """Active, in-window rules in priority order (then id, so the order is deterministic)."""
    multis: list[MultiBuy] = []
    thresholds: list[Threshold] = []
    for p in sorted(rows, key=lambda r: (r.priority, r.id)):
        if not p.active:
            continue
        if (p.starts_at and as_utc(p.starts_at) > now) or (p.ends_at and as_utc(p.ends_at) <= now):
            continue
        rule = json.loads(p.rule)
        if p.kind == "multibuy":
            multis.append(
                MultiBuy(
                    id=p.id,
                    name=p.name,
                    gtins=frozenset(rule.get("gtins", [])),
                    category=rule.get("category", ""),
                    buy=rule["buy"],
                    price_minor=rule.get("price_minor"),
                    free=rule.get("free", 0),
                    priority=p.priority,
                )
            )
        elif p.kind == "threshold":
            thresholds.append(
                Threshold(
                    id=p.id,
                    name=p.name,
                    tiers=tuple((a, b) for a, b in rule["tiers"]),
                    exclude_categories=frozenset(rule.get("exclude_categories", [])),
                    priority=p.priority,
                )
            )
    return multis, thresholds
