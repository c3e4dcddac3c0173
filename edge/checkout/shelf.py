"""Whether a pack may be sold at all: its use-by date (GS1 AI 17) and the recall list.

A code that carries AIs (GS1 DataMatrix, DataBar, GS1-128, a Digital Link QR) says which pack it
is: its lot (10) and dates (17 use-by, 15 best-before, 11 production). The recall list comes down
from the cloud as the `recalls` down-sync kind and is replaced as a whole, in one transaction,
so a scan sees the old list or the new one, never half of each.

Matching (docs/checkout.md): an entry with no lot and no dates recalls every pack of its GTIN; a
lot entry recalls the packs of that lot; a date entry the packs dated within it. A pack whose code
carries no lot (or no date) cannot be told apart, so it is refused when the entry says
`refuse_unmarked` (the default: the till cannot prove the pack is not from the recalled lot).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, delete
from sqlalchemy import select as core_select
from sqlmodel import col, select

from edge.checkout.cartread import CartRow
from edge.checkout.models import Recall, RecallList
from edge.platform import gs1
from edge.platform.errors import Conflict, EdgeError
from edge.platform.gs1facts import Facts
from edge.platform.store import ReadTx, Store
from edge.platform.text import clean
from edge.platform.timeutil import as_utc, utcnow

MAX_ENTRIES = 100_000
_RECALL: Table = Recall.__table__  # type: ignore[attr-defined]
# Every scan asks this: a prebuilt Core statement, not the ORM's pipeline (edge/checkout/cartrows.py)
_RECALLS_OF = core_select(
    _RECALL.c.recall_id, _RECALL.c.lot, _RECALL.c.date_from, _RECALL.c.date_to, _RECALL.c.refuse_unmarked,
    _RECALL.c.reason,
).where(_RECALL.c.gtin.in_(bindparam("gtins", expanding=True)))  # fmt: skip


class RecallEntry(Protocol):
    """What matching reads of an entry: a `Recall`, or a row of the scan's Core query."""

    @property
    def recall_id(self) -> str: ...
    @property
    def lot(self) -> str: ...
    @property
    def date_from(self) -> date | None: ...
    @property
    def date_to(self) -> date | None: ...
    @property
    def refuse_unmarked(self) -> bool: ...
    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class Refusal:
    """Why a pack must not be sold, as the kiosk, the phone and the fitting room say it."""

    code: str  # item_expired | item_recalled
    message: str
    details: dict[str, Any]


def pack_refusal(s: ReadTx, facts: Facts, today: date) -> Refusal | None:
    """None when the pack may be sold."""
    expiry = facts.expiry
    if expiry is not None and expiry < today:
        return Refusal(
            "item_expired",
            f"this pack's use-by date was {expiry.isoformat()}; please hand it to a member of staff",
            {"expired_on": expiry.isoformat(), "gtin": facts.gtin},
        )
    recall = recalled(s, facts)
    if recall is not None:
        return Refusal(
            "item_recalled",
            "this item has been recalled and cannot be sold; please hand it to a member of staff",
            {"recall_id": recall.recall_id, "gtin": facts.gtin, "reason": recall.reason},
        )
    return None


def refuse_expired_lines(rows: Iterable[CartRow], today: date) -> None:
    """At payment: a pack that passed its use-by date while in the cart (a cart kept over
    midnight) is not sold either; the shopper removes it, or staff take it."""
    stale = [(r, r.expires_on) for r in rows if r.expires_on is not None and r.expires_on < today]
    if stale:
        first, day = stale[0]
        raise Conflict(
            f"{first.name} passed its use-by date ({day.isoformat()}) while in the cart; remove it to pay",
            code="item_expired",
            details={"line_ids": [r.line_id for r, _ in stale], "expired_on": day.isoformat()},
        )


def refuse_recalled_lines(s: ReadTx, rows: Iterable[CartRow]) -> None:
    """At payment: a recall entry that arrived while a pack was in the cart stops its sale too.
    The scan met every older entry with all its code said; a line keeps its use-by date but not
    its lot, so it meets a newer lot recall as unmarked."""
    lines = list(rows)
    if not lines:
        return
    oldest = min(row.added_at for row in lines)
    # one read for the whole cart: the entries of its GTINs that arrived after its first line
    newer = s.exec(select(Recall).where(col(Recall.gtin).in_({r.gtin for r in lines}), Recall.since > oldest)).all()
    for row in lines:
        dates = [row.expires_on] if row.expires_on is not None else []
        fresh = [e for e in newer if e.gtin == row.gtin and as_utc(e.since) > row.added_at]
        entry = _covering(fresh, None, dates)
        if entry is not None:
            raise Conflict(
                f"{row.name} has been recalled since it was scanned; it cannot be sold, please hand it to staff",
                code="item_recalled",
                details={"line_ids": [row.line_id], "recall_id": entry.recall_id, "reason": entry.reason},
            )


def recalled(s: ReadTx, facts: Facts) -> RecallEntry | None:
    """The first recall entry that covers this pack, if any."""
    dates = [gs1.parse_date(v) for v in (facts.ai(ai) for ai in ("17", "15", "11")) if v]
    rows = s.run(_RECALLS_OF, {"gtins": sorted({facts.gtin, facts.lookup_gtin})}).all()
    entries: list[RecallEntry] = [r for r in rows]  # a Row has the selected columns as attributes
    return _covering(entries, facts.ai("10"), dates)


def _covering(entries: Iterable[RecallEntry], lot: str | None, dates: list[date]) -> RecallEntry | None:
    """An entry names a lot, a date range (any date the pack carries inside it: a recall may be
    by production or by use-by date), both, or neither (every pack). A pack that does not carry
    what an entry names is covered when the entry says `refuse_unmarked`."""
    for entry in entries:
        if entry.lot and (entry.lot != lot if lot is not None else not entry.refuse_unmarked):
            continue
        if entry.date_from or entry.date_to:
            inside = [
                d
                for d in dates
                if not ((entry.date_from and d < entry.date_from) or (entry.date_to and d > entry.date_to))
            ]
            if not inside and (dates or not entry.refuse_unmarked):
                continue
        return entry
    return None


def _day(item: dict[str, Any], key: str) -> date | None:
    value = item.get(key)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{key} must be a date (YYYY-MM-DD)") from None


def _str(item: dict[str, Any], key: str) -> str:
    """A text field; absent or null is empty (a null lot is "every lot", never the lot "None")."""
    value = item.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int):
        raise ValueError(f"{key} must be text")
    return str(value)


def parse_recall(item: Any) -> Recall:
    """One entry of a recall version; ValueError with a sentence for anything wrong."""
    if not isinstance(item, dict):
        raise ValueError("each entry is an object")
    unknown = set(item) - {"recall_id", "gtin", "lot", "date_from", "date_to", "refuse_unmarked", "reason"}
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    try:
        gtin = gs1.normalise_gtin(str(item.get("gtin", "")))
    except EdgeError as exc:
        raise ValueError(f"gtin: {exc.message}") from None
    recall_id = clean(_str(item, "recall_id")).strip()
    if not recall_id or len(recall_id) > 64:
        raise ValueError("recall_id is required, up to 64 characters")
    lot = _str(item, "lot")
    if len(lot) > 20 or not all(33 <= ord(ch) < 127 for ch in lot):
        raise ValueError("lot is up to 20 printable ASCII characters (GS1 AI 10)")
    start, end = _day(item, "date_from"), _day(item, "date_to")
    if start and end and start > end:
        raise ValueError("date_from is after date_to")
    refuse_unmarked = item.get("refuse_unmarked", True)
    if not isinstance(refuse_unmarked, bool):
        raise ValueError("refuse_unmarked is true or false")
    reason = clean(_str(item, "reason"))
    if len(reason) > 200:
        raise ValueError("reason is up to 200 characters")
    return Recall(
        recall_id=recall_id,
        gtin=gtin,
        lot=lot,
        date_from=start,
        date_to=end,
        refuse_unmarked=refuse_unmarked,
        reason=reason,
    )


def apply_recalls(store: Store, version: int, items: list[Any]) -> int:
    """Replace the recall list with this version in one transaction; ValueError (nothing changed)
    for a bad entry. Returns the number of entries."""
    if not isinstance(items, list) or len(items) > MAX_ENTRIES:
        raise ValueError(f"a recall list is a list of at most {MAX_ENTRIES} entries")
    entries = []
    for i, item in enumerate(items, start=1):
        try:
            entries.append(parse_recall(item))
        except ValueError as exc:
            raise ValueError(f"entry {i}: {exc}") from None
    with store.write() as s:
        known = {_identity(r): r.since for r in s.exec(select(Recall)).all()}
        s.run(delete(Recall))
        for entry in entries:
            entry.since = known.get(_identity(entry), entry.since)  # an entry kept is not new
            s.add(entry)
        state = s.get(RecallList, 1) or RecallList(id=1)
        state.version, state.entries, state.applied_at = version, len(entries), utcnow()
        s.add(state)
        s.audit("cloud", "checkout.recalls_applied", str(version), entries=len(entries))
    return len(entries)


def _identity(r: Recall) -> tuple[object, ...]:
    return (r.recall_id, r.gtin, r.lot, r.date_from, r.date_to, r.refuse_unmarked)


def recall_state(store: Store) -> dict[str, Any]:
    """The version on /readyz: which recall list this box enforces."""
    with store.read() as s:
        state = s.get(RecallList, 1)
    if state is None:
        return {"version": None, "entries": 0}
    return {"version": state.version, "entries": state.entries, "applied_at": state.applied_at.isoformat()}
