"""The SLA sweep: announces, warns, escalates and expires waiting actions, closes post-action
review windows and releases lapsed claims. Run by Celery beat every few seconds (escalation.tasks).

Each batch is one short transaction: due rows are claimed with FOR UPDATE SKIP LOCKED (so sweeps
running at once never take the same row, and a reviewer deciding a row holds it against the
sweep), changed with one UPDATE, and their audit events and notifications inserted with it.
Wake-ups and pushes fire after commit. A batch that fails rolls back whole; the next run redoes it.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from hitl.audit import Type, audit_event
from hitl.db import insert_rows, update_rows
from hitl.models import Action, ActionType, Agent, AuditEvent
from hitl.states import Decision, Status
from hitl.wakeups import actions_changed_on_commit
from reviews.models import Claim
from reviews.realtime import broadcast_actions_on_commit

from . import notify
from .capacity import overflow_new_items
from .deadlines import next_event_at, passed_warnings

BATCH_SIZE = 500
SWEPT_FIELDS = [
    "status", "decision", "decided_at", "decision_comment", "route_tier", "reviewer_group", "due_at",
    "escalation_step", "sla_stage", "sla_next_at", "version", "updated_at",
]  # fmt: skip
# Columns no step of the sweep reads: left in the database rather than decoded for every row.
UNREAD_FIELDS = ("payload", "reasoning", "context", "entity", "route_reasons", "final_payload", "outcome_detail")


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
    moved: list = field(default_factory=list)  # ids escalated or expired in the current batch


def escalation_sweep(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> SweepResult:
    """Apply every SLA event due at `now` (default: the current time), batch by batch."""
    result = SweepResult()
    while _sweep_batch(now=now, batch_size=batch_size, result=result):
        result.batches += 1
    result.claims_released = _release_lapsed_claims(now=now or timezone.now())
    return result


def _sweep_batch(*, now, batch_size: int, result: SweepResult) -> bool:
    """One batch in one transaction, in the same queries however many rows it holds."""
    with transaction.atomic():
        at = now or timezone.now()
        rows = list(
            Action.objects.select_for_update(skip_locked=True, of=("self",))
            .defer(*UNREAD_FIELDS)
            .filter(sla_next_at__lte=at)
            .order_by("sla_next_at")[:batch_size]
        )
        if not rows:
            return False
        _attach_types_and_agents(rows)
        events, announcements = overflow_new_items(rows, at), []
        result.moved = []
        for action in rows:
            events.extend(_apply(action, at, result, announcements))
        update_rows(rows, SWEPT_FIELDS)
        insert_rows(events)
        if result.moved:  # its holder may no longer see it, or it is over
            Claim.objects.filter(action_id__in=result.moved).delete()
        notify.notifications_create(items=announcements)
        ids = [action.pk for action in rows]
        # Long polls wait for an action to leave pending: only an expiry wakes them, not an escalation.
        moved = set(result.moved)
        actions_changed_on_commit([a.pk for a in rows if a.pk in moved and a.status == Status.EXPIRED])
        broadcast_actions_on_commit(ids)
    return True


def _attach_types_and_agents(rows: list[Action]) -> None:
    """Give each action its type and agent (its audit events carry them): a batch has a handful of
    each, read in one query apiece rather than joined and built again for every row."""
    types = ActionType.objects.in_bulk({action.action_type_id for action in rows})
    agents = Agent.objects.in_bulk({action.agent_id for action in rows})
    type_field, agent_field = Action._meta.get_field("action_type"), Action._meta.get_field("agent")
    for action in rows:  # as select_related would: cached on the instance, with no checks per row
        type_field.set_cached_value(action, types[action.action_type_id])
        agent_field.set_cached_value(action, agents[action.agent_id])


def _apply(action: Action, now: datetime, result: SweepResult, announcements: list) -> list[AuditEvent]:
    """Change `action` in memory for the SLA event due; return its audit events. The caller holds
    the lock on it and saves it."""
    if action.status != Status.PENDING:
        if action.route_pattern == "post_action" and action.status == Status.APPROVED and action.due_at <= now:
            action.sla_next_at = None
            result.windows_closed += 1
            return [audit_event(event_type=Type.REVIEW_WINDOW_CLOSED, action=action)]
        action.sla_next_at = None  # decided or cancelled meanwhile: nothing is due
        return []
    step = action.escalation_path[action.escalation_step]
    action.version += 1
    action.updated_at = now
    if action.due_at <= now:
        return [_breach(action, step, now, result, announcements)]
    if action.sla_stage == 0:
        result.announced += 1
        announcements.append((action, "new_item"))
        action.sla_stage = 1
        action.sla_next_at = next_event_at(step, action.due_at, action.sla_stage)
        return []
    # A warning. A sweep that ran late sends only the latest one that is due, not every one missed.
    passed = passed_warnings(step, action.due_at, now)
    result.warned += 1
    announcements.append((action, "warning"))
    action.sla_stage = passed + 1
    action.sla_next_at = next_event_at(step, action.due_at, action.sla_stage)
    percent = round(step["warn_at"][passed - 1] * 100)
    return [audit_event(event_type=Type.WARNED, action=action, data={"percent_of_sla": percent})]


def _breach(action: Action, step: dict, now: datetime, result: SweepResult, announcements: list) -> AuditEvent:
    late = (now - action.due_at).total_seconds()
    result.lateness.append(late)
    result.moved.append(action.pk)
    before = {"tier": action.route_tier, "group": action.reviewer_group, "due_at": action.due_at.isoformat()}
    path = action.escalation_path
    if step["on_breach"] == "escalate" and action.escalation_step + 1 < len(path):
        following = path[action.escalation_step + 1]
        action.escalation_step += 1
        action.route_tier, action.reviewer_group = following["tier"], following["group"]
        action.due_at = now + timedelta(seconds=following["sla"])
        action.sla_stage = 1  # announced by the escalation itself
        action.sla_next_at = next_event_at(following, action.due_at, action.sla_stage)
        result.escalated += 1
        announcements.append((action, "escalation"))
        after = {"tier": action.route_tier, "group": action.reviewer_group, "due_at": action.due_at.isoformat()}
        return audit_event(
            event_type=Type.ESCALATED, action=action, before=before, after=after, data={"late_seconds": late}
        )
    action.status, action.decision, action.decided_at = Status.EXPIRED, Decision.EXPIRED, now
    action.decision_comment = f"No reviewer decided within the {step['tier']} SLA; expired."
    action.sla_next_at = None
    result.expired += 1
    announcements.append((action, "breach"))
    return audit_event(
        event_type=Type.EXPIRED,
        action=action,
        decision=Decision.EXPIRED,
        before=before,
        after={"status": Status.EXPIRED, "comment": action.decision_comment},
        data={"late_seconds": late},
    )


def _release_lapsed_claims(*, now: datetime) -> int:
    """Delete claims whose lease ran out, with a `released` event each, in one transaction."""
    with transaction.atomic():
        lapsed = list(
            Claim.objects.select_for_update(skip_locked=True)
            .select_related("action__action_type", "action__agent", "holder")
            .filter(expires_at__lte=now)
        )
        if not lapsed:
            return 0
        AuditEvent.objects.bulk_create(
            audit_event(event_type=Type.RELEASED, action=c.action, before={"holder": c.holder.get_username()},
                        data={"reason": "lease expired"})
            for c in lapsed
        )  # fmt: skip
        Claim.objects.filter(pk__in=[c.pk for c in lapsed], expires_at__lte=now).delete()
        broadcast_actions_on_commit([claim.action_id for claim in lapsed])
    return len(lapsed)
