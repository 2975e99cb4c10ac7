"""An action's audit events as its page's timeline: each in words, with who acted and what changed."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from audit.models import AuditEvent
from hitl.models import Action
from hitl.states import Decision

from . import payload_form

EVENT_TITLES = {
    AuditEvent.Type.SUBMITTED: "Submitted",
    AuditEvent.Type.CLAIMED: "Claimed",
    AuditEvent.Type.RELEASED: "Released",
    AuditEvent.Type.TAKEN_OVER: "Taken over",
    AuditEvent.Type.APPROVAL_RECORDED: "Approval recorded",
    AuditEvent.Type.POST_CONFIRMED: "Confirmed after it ran",
    AuditEvent.Type.POST_FLAGGED: "Flagged after it ran",
    AuditEvent.Type.COMPENSATION_REQUESTED: "Compensation requested",
    AuditEvent.Type.COMPENSATION_REPORTED: "Compensation reported",
    AuditEvent.Type.CANCELLED: "Cancelled by the agent",
    AuditEvent.Type.OUTCOME_REPORTED: "Outcome reported",
    AuditEvent.Type.WARNED: "SLA warning",
    AuditEvent.Type.ESCALATED: "Escalated",
    AuditEvent.Type.EXPIRED: "Expired",
    AuditEvent.Type.REVIEW_WINDOW_CLOSED: "Review window closed",
    AuditEvent.Type.OVERFLOWED: "Overflowed to the fallback group",
    AuditEvent.Type.REASSIGNED: "Reassigned",
    AuditEvent.Type.NOTIFICATION_SENT: "Notification sent",
    AuditEvent.Type.NOTIFICATION_FAILED: "Notification failed",
}
DECISION_TITLES = {
    Decision.APPROVED: "Approved",
    Decision.MODIFIED: "Approved with edits",
    Decision.REJECTED: "Rejected",
    "approve": "Approval recorded",
    "modify": "Approval with edits recorded",
}
DETAIL_LABELS = {
    "late_seconds": "Late by",
    "percent_of_sla": "SLA used",
    "reasons": "Reasons",
    "approvers": "Approved by",
    "approvals": "Approvals",
    "comment": "Comment",
    "why": "Why",
    "approval_record": "Approvals given",
    "payload_sha256": "Payload SHA-256",
    "superseded": "No longer counted (approved an earlier version)",
    "edited_by": "Edited by",
}


@dataclass(frozen=True)
class TimelineEntry:
    """One audit event of an action, ready to read."""

    event: AuditEvent
    title: str  # what happened, in words: "Escalated", "Approved with edits"
    who: str  # the reviewer's username, the agent's name, "system"
    changes: list  # payload_form.Change: the event's fields, before → after
    edit: list  # payload_form.Change: a reviewer's edit of the agent's proposal
    details: list  # (label, value): the event's data and comment, and what it left behind


def action_timeline(action: Action) -> list[TimelineEntry]:
    """Every audit event of `action` in the order of its chain (seq), in one query."""
    events = AuditEvent.objects.filter(action=action).select_related("reviewer").order_by("seq", "id")
    return [_entry(event, action) for event in events]


def _entry(event: AuditEvent, action: Action) -> TimelineEntry:
    before, after = event.before or {}, dict(event.after or {})
    details = []
    comment = after.pop("comment", "")
    if comment:
        details.append((DETAIL_LABELS["comment"], comment))
    # What the event records after, against what it was; a field it records only before (where an
    # expiry found the action, why a group overflowed) is context, not a field that was removed. The
    # proposal a decision records before is the base of its edit, shown on its own.
    before, after = _readable_times(before), _readable_times(after)
    if event.after is not None:
        before_only = {k: v for k, v in before.items() if k not in after and k != "payload"}
        details += [(_label(key), value) for key, value in before_only.items()]
        before = {k: v for k, v in before.items() if k in after}
    data = dict(event.data or {})
    if "approvals" in data and "required" in data:
        data["approvals"] = f"{data['approvals']} of {data.pop('required')}"
    details += [(_label(key), _readable(key, value)) for key, value in data.items() if key != "patch"]
    details = [(name, value) for name, value in details if value not in ("", None, [], {})]
    edited = event.modified_action
    return TimelineEntry(
        event=event,
        title=_title(event),
        who=event.reviewer.get_username() if event.reviewer_id else event.actor_label,
        changes=_in_order(payload_form.changes(before, after), [*after, *before]),
        edit=payload_form.changes(action.payload, edited) if edited is not None else [],
        details=details,
    )


def _readable_times(record: dict) -> dict:
    """A record's timestamps ("due_at": "2026-11-24T13:00:00+00:00") as "2026-11-24 13:00:00 UTC"."""
    out = dict(record)
    for key, value in record.items():
        if key.endswith("_at") and isinstance(value, str):
            try:
                out[key] = datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            except ValueError:
                pass
    return out


def _in_order(changes: list, keys: list) -> list:
    """The changes of a flat record in the order of `keys` (a JSON Patch comes in any order; a
    record's keys come back from jsonb shortest first)."""
    position = {f"/{key}": i for i, key in enumerate(dict.fromkeys(keys))}
    return sorted(changes, key=lambda change: position.get(change.path, len(position)))


def _title(event: AuditEvent) -> str:
    editor = (event.data or {}).get("edited_by")
    if event.event_type == AuditEvent.Type.DECIDED and editor and editor != event.actor_label:
        return f"Approved with {editor}'s edits"
    if (
        event.event_type in (AuditEvent.Type.DECIDED, AuditEvent.Type.APPROVAL_RECORDED)
        and event.decision in DECISION_TITLES
    ):
        return DECISION_TITLES[event.decision]
    return EVENT_TITLES.get(event.event_type) or _label(event.event_type)


def _label(key: str) -> str:
    return DETAIL_LABELS.get(key, str(key).replace("_", " ").capitalize())


def _readable(key: str, value) -> Any:
    if key == "late_seconds" and isinstance(value, int | float):
        return _duration(value)
    if key == "percent_of_sla":
        return f"{value} % of the SLA"
    if key == "reasons" and isinstance(value, list):
        return [r.get("message", r) if isinstance(r, dict) else r for r in value]
    if key in ("approvers", "superseded") and isinstance(value, list):
        return ", ".join(map(str, value))
    if key == "approval_record" and isinstance(value, list):
        return "; ".join(
            f"{a.get('by')}: payload {str(a.get('payload_sha256', ''))[:12]}…"
            + ("" if a.get("counted") else " (an earlier version, not counted)")
            for a in value
            if isinstance(a, dict)
        )
    return value


def _duration(seconds: float) -> str:
    """3.2 → "3 s", 725 → "12 min 5 s", 7500 → "2 h 5 min"."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"
