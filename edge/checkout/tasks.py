"""Staff tasks: what only a person can do at the till and the exit, for the staff handhelds.

- `id_check`: an age-restricted item in a cart (kiosk or phone). Approve: the cart may pay.
  Refuse (with a reason): the restricted lines leave the cart and the shopper is told why.
- `kiosk_help`: a shopper pressed "call staff" (kiosk or phone).
- `exit_audit`: a flagged pass opened a gate: rescan the basket. Match, mismatch (the missing
  items listed) or waved through (with a reason); the result feeds the member's history
  (checkout.audits).
- `pack_pull`: a pack that must not be sold reached a till (past its use-by date, recalled):
  take it from the shopper and check the shelf for more. Taken.

A task is written in the same transaction as what raised it (the cart line, the pass's use), and
every change queues its state for the handhelds on `retail/{store}/staff/task` (QoS 1, durable:
the relay's 0-lost path) and an audit row. open -> claimed -> done; a task nobody claims within
`checkout.task_escalate_s` is escalated once to the supervisors (`retail/{store}/staff/escalation`).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlmodel import col, select

from edge.bus import Bus
from edge.checkout import cartrows
from edge.checkout.audits import record_in
from edge.checkout.events import CartChanged, TaskChanged
from edge.checkout.models import CartLine, Product, StaffTask
from edge.checkout.settings import CheckoutConfig
from edge.platform.errors import Conflict, EdgeError, InvalidInput, NotFound
from edge.platform.store import ReadTx, Store, Tx
from edge.platform.timeutil import as_utc, utcnow
from edge.scanning.contract import FrameReader

if TYPE_CHECKING:
    from edge.checkout.sessions import Sessions

OUTCOMES = {
    "id_check": ("approved", "refused"),
    "kiosk_help": ("helped",),
    "exit_audit": ("match", "mismatch", "waved"),
    "pack_pull": ("taken",),
}
MAX_PACKS = 20  # packs one pull task lists (a cart full of one recalled lot is still one task)


def public(task: StaffTask) -> dict[str, Any]:
    """A task as the handhelds see it (JSON-ready)."""

    def iso(t: Any) -> str | None:
        return as_utc(t).isoformat() if t is not None else None

    return {
        "id": task.id, "kind": task.kind, "place": task.place, "session_id": task.session_id,
        "order_id": task.order_id, "detail": json.loads(task.detail), "state": task.state,
        "escalated": task.escalated, "claimed_by": task.claimed_by, "outcome": task.outcome,
        "reason": task.reason, "version": task.version, "created_at": iso(task.created_at),
        "claimed_at": iso(task.claimed_at), "done_at": iso(task.done_at),
    }  # fmt: skip


def _announce(s: Tx, store_id: str, bus: Bus, task: StaffTask, topic: str = "task") -> None:
    view = public(task)
    s.mqtt(f"retail/{store_id}/staff/{topic}", {"type": f"staff.{topic}", "schema": 1, "store": store_id, **view})
    s.after_durable(lambda: bus.publish(TaskChanged(task=view)))


def open_task(
    s: Tx, store_id: str, bus: Bus, kind: str, place: str, *, session_id: str | None = None,
    order_id: str | None = None, detail: dict[str, Any] | None = None,
) -> StaffTask:  # fmt: skip
    """Raise a task inside the caller's transaction (one open task per kind and cart or order)."""
    same = StaffTask.session_id == session_id if session_id else StaffTask.order_id == order_id
    live = col(StaffTask.state).in_(("open", "claimed"))
    current = s.exec(select(StaffTask).where(StaffTask.kind == kind, live, same)).first()
    if current is not None:
        return current
    task = StaffTask(kind=kind, place=place, session_id=session_id, order_id=order_id, detail=json.dumps(detail or {}))
    s.add(task)
    s.audit(f"device:{place}", f"checkout.task_{kind}", task.id, session_id=session_id, order_id=order_id)
    _announce(s, store_id, bus, task)
    return task


def pull_pack(s: Tx, store_id: str, bus: Bus, place: str, session_id: str, pack: dict[str, Any]) -> StaffTask:
    """A refused pack (expired, recalled) at a till, inside the refusal's transaction: one task per
    cart for a person to take it off sale; another pack refused in that cart joins the task (the
    same GTIN refused for the same reason once; at most MAX_PACKS). A resent scan never gets here:
    the refusal claims its scan id like an add does (cartadd.write)."""
    task = open_task(s, store_id, bus, "pack_pull", place, session_id=session_id, detail={"packs": [pack]})
    packs = json.loads(task.detail or "{}").get("packs", [])
    same = (pack.get("gtin"), pack.get("code"))
    if all((p.get("gtin"), p.get("code")) != same for p in packs) and len(packs) < MAX_PACKS:
        task.detail = json.dumps({"packs": [*packs, pack]})
        task.version += 1
        s.add(task)
        s.audit(f"device:{place}", "checkout.task_pack_added", task.id, gtin=pack.get("gtin"), code=pack.get("code"))
        _announce(s, store_id, bus, task)
    return task


class StaffTasks:
    def __init__(self, settings: CheckoutConfig, store: Store, bus: Bus, sessions: Sessions) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.sessions = sessions  # a refusal changes a cart; a mismatch opens a corrective sale
        self.locks = sessions.locks

    @property
    def store_id(self) -> str:
        return self.settings.store.id

    def listing(self, include_done: bool = False) -> list[dict[str, Any]]:
        states = ("open", "claimed", "done") if include_done else ("open", "claimed")
        with self.store.read() as s:
            rows = s.exec(
                select(StaffTask).where(col(StaffTask.state).in_(states)).order_by(col(StaffTask.created_at))
            ).all()
        return [public(t) for t in rows][-200:]

    def ask_for_help(self, place: str, session_id: str | None, request_id: str | None = None) -> dict[str, Any]:
        """One open help task per cart; with a request id, a resend of an answered press is that task again."""
        with self.store.write() as s:
            if request_id is not None and session_id is not None:
                asked = s.exec(
                    select(StaffTask).where(StaffTask.kind == "kiosk_help", StaffTask.session_id == session_id)
                )
                for task in asked:
                    if json.loads(task.detail or "{}").get("request_id") == request_id:
                        return public(task)
            detail = {"request_id": request_id} if request_id else None
            task = open_task(s, self.store_id, self.bus, "kiosk_help", place, session_id=session_id, detail=detail)
        return public(task)

    def claim(self, task_id: str, who: str) -> dict[str, Any]:
        with self.store.read() as s:  # the losers of a race are told without queueing for the write slot
            seen = self._get(s, task_id)
            if seen.state != "open":
                return self._claimed_already(seen, who)
        with self.store.write() as s:
            task = self._get(s, task_id)
            if task.state != "open":
                return self._claimed_already(task, who)
            task.state, task.claimed_by, task.claimed_at = "claimed", who[:80], utcnow()
            self._save(s, task, who, "claimed")
        return public(task)

    @staticmethod
    def _claimed_already(task: StaffTask, who: str) -> dict[str, Any]:
        if task.state == "claimed" and task.claimed_by == who:
            return public(task)  # a repeated claim (a retry) changes nothing
        raise Conflict(f"this task is already {task.state} by {task.claimed_by}", code="task_taken",
                       details={"state": task.state, "claimed_by": task.claimed_by})  # fmt: skip

    def resolve(
        self, task_id: str, who: str, outcome: str, reason: str = "", missing: list[dict[str, Any]] | None = None,
        take_over: bool = False, version: int | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Answer a task. One claimed by someone else is theirs to answer, unless `take_over` (a
        supervisor, a manager or store IT stepping in for a colleague who walked away). With the
        `version` it was shown at, an answer to a task that changed since is refused: a pack that
        joined a pull task after the guide looked is not taken off sale unseen."""
        with self.store.read() as s:
            kind, session_id = self._get(s, task_id).kind, self._get(s, task_id).session_id
        if outcome not in OUTCOMES.get(kind, ()):
            raise InvalidInput(f"a {kind} task ends with one of {', '.join(OUTCOMES[kind])}", code="bad_outcome")
        if outcome in ("refused", "waved") and not reason.strip():
            raise InvalidInput("say why", code="reason_required")
        refused_cart = None
        with self.locks.hold(session_id or task_id), self.store.write() as s:
            task = self._get(s, task_id)
            if task.state == "done":
                if task.outcome == outcome:
                    return public(task)  # a repeated answer (a retry)
                raise Conflict(f"this task was already answered: {task.outcome}", code="task_done")
            if task.state == "claimed" and task.claimed_by != who and not take_over:
                raise Conflict(
                    f"this task is claimed by {task.claimed_by}; they answer it, or a supervisor takes over",
                    code="task_taken",
                    details={"state": task.state, "claimed_by": task.claimed_by},
                )
            if version is not None and task.version != version:
                raise Conflict(
                    "this task changed since it was shown (another pack joined it); check it and answer again",
                    code="task_changed",
                    details={"version": task.version},
                )
            if kind == "id_check" and session_id:
                refused_cart = self._id_check(s, session_id, who, outcome, reason)
            if kind == "exit_audit" and task.order_id:
                record_in(s, task.order_id, outcome, missing or [], reason, who)
            task.state, task.outcome, task.reason, task.done_at = "done", outcome, reason[:200], utcnow()
            if not task.claimed_by:
                task.claimed_by, task.claimed_at = who[:80], task.done_at
            self._save(s, task, who, outcome)
        out = public(task)
        if kind == "exit_audit" and outcome == "mismatch" and missing:
            out["corrective"] = self._corrective(task, missing)
        if refused_cart is not None:
            self.bus.publish(CartChanged(session_id=refused_cart[0], kiosk_id=refused_cart[1], version=refused_cart[2],
                reason="age_check_refused", alert={"code": "age_check_refused", "message": reason[:200]}))  # fmt: skip
        return out

    def _corrective(self, task: StaffTask, missing: list[dict[str, Any]]) -> dict[str, Any]:
        """The items found in the basket but not paid for, in a new cart staff take payment for at a
        staffed till (it is theirs to check out: `POST /api/kiosk/sessions/{id}/checkout` as staff)."""
        cart = self.sessions.open(f"fix-{task.id[-12:]}")
        skipped = []
        for item in missing:
            try:
                self.sessions.add_code(cart.session_id, None, item["gtin"], int(item.get("qty", 1)), "staff")
            except EdgeError as exc:
                skipped.append({"gtin": item["gtin"], "code": exc.code, "message": exc.message})
        view = self.sessions.view(cart.session_id)
        lines = [{"gtin": ln["gtin"], "name": ln["name"], "qty": ln["qty"]} for ln in view.lines]
        return {"session_id": view.session_id, "lines": lines, "total_minor": view.total_minor,
                "currency": view.currency, "skipped": skipped}  # fmt: skip

    def _id_check(self, s: Tx, session_id: str, who: str, outcome: str, reason: str) -> tuple[str, str, int] | None:
        ks = cartrows.session(s, session_id)
        if ks is None or ks.status not in ("open", "paying"):
            return None  # the shopper left or paid for something else: nothing to change
        if outcome == "approved":
            ks.age_checked_by = who[:80]
            cartrows.touch(s, ks)
            s.audit(who, "checkout.age_checked", ks.id)
            changed = CartChanged(session_id=ks.id, kiosk_id=ks.kiosk_id, version=ks.version, reason="age_checked")
            s.after_durable(lambda: self.bus.publish(changed))
            return None
        restricted = select(Product.gtin).where(col(Product.age_restricted).is_(True))
        s.execute(delete(CartLine).where(col(CartLine.session_id) == ks.id, col(CartLine.gtin).in_(restricted)))
        cartrows.touch(s, ks)
        s.audit(who, "checkout.age_check_refused", ks.id, reason=reason)
        return ks.id, ks.kiosk_id, ks.version

    def escalate_due(self) -> int:
        """Escalate, once, the tasks nobody claimed in time (the housekeeping loop calls this)."""
        cutoff = utcnow() - timedelta(seconds=self.settings.checkout.task_escalate_s)
        with self.store.write() as s:
            due = s.exec(
                select(StaffTask).where(
                    StaffTask.state == "open", StaffTask.escalated == 0, col(StaffTask.created_at) < cutoff
                )
            ).all()
            for task in due:
                task.escalated = 1
                self._save(s, task, "system", "escalated", topic="escalation")
        return len(due)

    def rescan_frame(self, frames: FrameReader, who: str, data: bytes, frame_id: str | None) -> dict[str, Any]:
        """One frame of a handheld's camera during an exit rescan, through the kiosk cameras'
        decoders and confirmation (one stream per handheld): the GTINs it confirms, which the page
        ticks off the paid list or puts on the missing one. Nothing is written."""
        read = frames.read_frame(f"staff:{who}", data, None, frame_id)
        codes = [{"text": c.text[:120], "gtin": c.facts.gtin if c.facts else None} for c in read.codes]
        return {"codes": codes, "seen": read.seen}

    @staticmethod
    def _get(s: ReadTx, task_id: str) -> StaffTask:
        task = s.get(StaffTask, task_id) if isinstance(task_id, str) and len(task_id) <= 36 else None
        if task is None:
            raise NotFound("no such task", code="unknown_task")
        return task

    def _save(self, s: Tx, task: StaffTask, who: str, action: str, topic: str = "task") -> None:
        task.version += 1
        s.add(task)
        s.audit(who, f"checkout.task_{action}", task.id, kind=task.kind, place=task.place)
        _announce(s, self.store_id, self.bus, task, topic)
