"""The SLA transitions of escalation.transitions, step by step through the ORM, for databases
other than PostgreSQL (the embedded SQLite of `make run`). The same rules, row by row; the tests
run both on the same scenarios and compare what they leave."""

from datetime import datetime, timedelta

from hitl.audit import Type, audit_event
from hitl.db import insert_rows, update_rows
from hitl.models import Action
from hitl.states import Decision, Status
from reviews.models import Claim

from .transitions import Moved

CHANGED = [
    "status", "decision", "decided_at", "decision_comment", "route_tier", "reviewer_group", "due_at",
    "escalation_step", "sla_stage", "sla_next_at", "version", "updated_at",
]  # fmt: skip


def transitions_apply_orm(*, ids: list, now: datetime, stamp: datetime, request_id: str = "") -> list[Moved]:
    """As transitions_apply. Caller holds the transaction and the rows."""
    rows = list(Action.objects.select_related("action_type", "agent").filter(pk__in=ids))
    moved, events = [], []
    for action in rows:
        kind, late, event = _apply(action, now)
        moved.append(_moved(action, kind, late))
        if event is not None:
            event.created_at, event.request_id = stamp, request_id
            events.append(event)
    update_rows(rows, CHANGED)
    insert_rows(events)
    Claim.objects.filter(action_id__in=[m.pk for m in moved if m.kind in ("escalated", "expired")]).delete()
    return moved


def _moved(action: Action, kind: str, late: float) -> Moved:
    return Moved(
        action.pk, kind, action.status, action.route_tier, action.reviewer_group, action.due_at,
        action.escalation_step, action.sla_stage, action.step_pages, late,
    )  # fmt: skip


def _apply(action: Action, now: datetime):
    """Change `action` in memory for what is due: (kind, seconds late, its audit event or None)."""
    late = (now - action.due_at).total_seconds() if action.due_at else 0.0
    if action.status != Status.PENDING:
        action.sla_next_at = None
        if action.route_pattern == "post_action" and action.status == Status.APPROVED and action.due_at <= now:
            return "review_window_closed", late, audit_event(event_type=Type.REVIEW_WINDOW_CLOSED, action=action)
        return "settled", late, None
    step = action.escalation_path[action.escalation_step]
    action.version += 1
    action.updated_at = now
    if action.due_at <= now:
        kind, event = _breach(action, step, now, late)
        return kind, late, event
    if action.sla_stage == 0:
        action.sla_stage = 1
        action.sla_next_at = _next_event_at(step, action.due_at, action.sla_stage)
        return "announced", late, None
    # A warning. A sweep that ran late sends only the latest one that is due, not every one missed.
    started = action.due_at - timedelta(seconds=step["sla"])
    passed = sum(started + timedelta(seconds=step["sla"] * f) <= now for f in step["warn_at"])
    action.sla_stage = passed + 1
    action.sla_next_at = _next_event_at(step, action.due_at, action.sla_stage)
    percent = round(step["warn_at"][passed - 1] * 100)
    return "warned", late, audit_event(event_type=Type.WARNED, action=action, data={"percent_of_sla": percent})


def _breach(action: Action, step: dict, now: datetime, late: float):
    before = {"tier": action.route_tier, "group": action.reviewer_group, "due_at": action.due_at.isoformat()}
    path = action.escalation_path
    if step["on_breach"] == "escalate" and action.escalation_step + 1 < len(path):
        following = path[action.escalation_step + 1]
        action.escalation_step += 1
        action.route_tier, action.reviewer_group = following["tier"], following["group"]
        action.due_at = now + timedelta(seconds=following["sla"])
        action.sla_stage = 1  # announced by the escalation itself
        action.sla_next_at = _next_event_at(following, action.due_at, action.sla_stage)
        after = {"tier": action.route_tier, "group": action.reviewer_group, "due_at": action.due_at.isoformat()}
        event = audit_event(
            event_type=Type.ESCALATED, action=action, before=before, after=after, data={"late_seconds": late}
        )
        return "escalated", event
    action.status, action.decision, action.decided_at = Status.EXPIRED, Decision.EXPIRED, now
    action.decision_comment = f"No reviewer decided within the {step['tier']} SLA; expired."
    action.sla_next_at = None
    event = audit_event(
        event_type=Type.EXPIRED,
        action=action,
        decision=Decision.EXPIRED,
        time_to_decision_seconds=(now - action.created_at).total_seconds(),
        before=before,
        after={"status": Status.EXPIRED, "comment": action.decision_comment},
        data={"late_seconds": late},
    )
    return "expired", event


def _next_event_at(step: dict, due_at: datetime, stage: int) -> datetime:
    """The step's next warning point after `stage` - 1 warnings, else its deadline."""
    started = due_at - timedelta(seconds=step["sla"])
    sent = stage - 1
    if sent < len(step["warn_at"]):
        return started + timedelta(seconds=step["sla"] * step["warn_at"][sent])
    return due_at
