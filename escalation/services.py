"""The SLA sweep: announces, warns, escalates and expires waiting actions, closes post-action
review windows and releases lapsed claims. Run by Celery beat every few seconds (escalation.tasks).

Each batch is one short transaction: due rows are claimed with FOR UPDATE SKIP LOCKED (so sweeps
running at once never take the same row, and a reviewer deciding a row holds it against the
sweep), new items of a full group overflow (escalation.capacity), one statement applies every
transition with its audit events (escalation.transitions), and the notifications are recorded
with them. Wake-ups and pushes fire after commit. A batch that fails rolls back whole; the next
run redoes it.
"""

import threading
from dataclasses import dataclass, field, fields
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hitl import events
from hitl.db import insert_rows, update_rows
from hitl.models import Action
from hitl.request_context import request_id
from hitl.states import Status
from hitl.wakeups import actions_changed_on_commit
from reviews import services as review_services

from . import notify
from .capacity import overflow_new_items
from .notify_models import Event
from .transitions import transitions_apply

BATCH_SIZE = 1000
COUNTED = {kind: kind for kind in ("announced", "warned", "escalated", "expired")} | {
    "review_window_closed": "windows_closed"
}
NOTIFIED = {
    "announced": Event.NEW_ITEM,
    "warned": Event.WARNING,
    "escalated": Event.ESCALATION,
    "expired": Event.BREACH,
}


@dataclass
class SweepResult:
    announced: int = 0
    warned: int = 0
    escalated: int = 0
    expired: int = 0
    windows_closed: int = 0
    claims_released: int = 0
    batches: int = 0
    lateness: list = field(default_factory=list)  # seconds after due_at each escalation or expiry fired

    def add(self, other: "SweepResult") -> None:
        for counter in fields(self):  # the counts add up, the lateness lists join
            setattr(self, counter.name, getattr(self, counter.name) + getattr(other, counter.name))


def escalation_sweep(*, now: datetime | None = None, batch_size: int = BATCH_SIZE, workers: int | None = None):
    """Apply every SLA event due at `now` (default: the current time), batch by batch.

    A backlog (a first batch that comes back full) is shared with `workers` - 1 more threads
    (default HITL_SLA_SWEEP_WORKERS), each on its own connection: FOR UPDATE SKIP LOCKED keeps
    their batches apart, and PostgreSQL does most of the work, so they overlap well.
    """
    workers = workers or settings.HITL_SLA_SWEEP_WORKERS
    result = SweepResult()
    first = _sweep_batch(now=now, batch_size=batch_size, result=result)
    helpers = [_Helper(now=now, batch_size=batch_size) for _ in range(workers - 1 if first == batch_size else 0)]
    for helper in helpers:
        helper.start()
    try:
        if first:
            result.batches += 1
            _drain(now=now, batch_size=batch_size, result=result)
    finally:
        for helper in helpers:  # a sweep ends with its helpers, whatever happened
            helper.join()
    for helper in helpers:
        if helper.error is not None:
            raise helper.error
        result.add(helper.result)
    result.claims_released = review_services.claims_release_lapsed(now=now or timezone.now())
    return result


def _drain(*, now, batch_size: int, result: SweepResult) -> None:
    while _sweep_batch(now=now, batch_size=batch_size, result=result):
        result.batches += 1


class _Helper(threading.Thread):
    """Sweeps batches on its own connection until none is left."""

    def __init__(self, **batch):
        super().__init__(name="sla-sweep-helper", daemon=True)
        self.batch, self.result, self.error = batch, SweepResult(), None

    def run(self):
        try:
            _drain(result=self.result, **self.batch)
        except BaseException as error:  # handed to the sweep, which raises it
            self.error = error
        finally:
            connection.close()


def _sweep_batch(*, now, batch_size: int, result: SweepResult) -> int:
    """One batch in one transaction, in the same statements however many rows it holds. Returns
    how many due rows it took (0: none left)."""
    with transaction.atomic():
        at = now or timezone.now()
        due = list(
            Action.objects.select_for_update(skip_locked=True)
            .filter(sla_next_at__lte=at)
            .order_by("sla_next_at")
            .values_list("pk", "status", "sla_stage")[:batch_size]
        )
        if not due:
            return 0
        new = [pk for pk, status, stage in due if status == Status.PENDING and stage == 0]
        if new:
            _overflow(new, at)
        ids = [pk for pk, _, _ in due]
        moved = transitions_apply(ids=ids, now=at, stamp=timezone.now(), request_id=request_id.get())
        _count(moved, result)
        # A claim ends with its holder's part: the action moved to another group, or ended.
        review_services.claims_end(action_ids=[m.pk for m in moved if m.kind in ("escalated", "expired")])
        notify.notifications_create(items=[(m, NOTIFIED[m.kind]) for m in moved if m.kind in NOTIFIED])
        # Long polls re-read on a wake-up: an expiry ends a wait for a decision, an escalation one for a new version.
        actions_changed_on_commit([m.pk for m in moved if m.kind in ("escalated", "expired")])
        events.announce_changed(m.pk for m in moved)
        for kind in ("escalated", "expired"):  # what the agent is told (webhooks to its callback_url)
            events.announce_events([m.pk for m in moved if m.kind == kind], f"action.{kind}")
    return len(due)


def _overflow(ids: list, now: datetime) -> None:
    """New items of a full or unavailable group move to its fallback before they are announced."""
    actions = list(Action.objects.select_related("action_type", "agent").filter(pk__in=ids))
    before = {action.pk: action.reviewer_group for action in actions}
    events = overflow_new_items(actions, now)
    update_rows([a for a in actions if a.reviewer_group != before[a.pk]], ["reviewer_group"])
    insert_rows(events)


def _count(moved: list, result: SweepResult) -> None:
    for m in moved:
        if m.kind in COUNTED:
            setattr(result, COUNTED[m.kind], getattr(result, COUNTED[m.kind]) + 1)
        if m.kind in ("escalated", "expired"):
            result.lateness.append(m.late_seconds)
