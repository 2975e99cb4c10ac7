"""Reviewer decisions. One conditional UPDATE decides; a second decision finds nothing to update."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from hitl import services as hitl_services
from hitl.audit import Type, audit_record
from hitl.errors import Conflict, Invalid, NotFound
from hitl.payloads import payload_errors
from hitl.selectors import action_get
from hitl.states import DECISION_STATUS, Decision, Status

from . import selectors
from .models import ReviewerGroup
from .selectors import reviewer_may_decide

VERBS = {"approve": Decision.APPROVED, "modify": Decision.MODIFIED, "reject": Decision.REJECTED}


def review_decide(
    *, reviewer: AbstractBaseUser, action_id, decision: str, payload: dict | None = None, comment: str = ""
):
    """Approve, modify (with an edited payload) or reject a pending action. Returns the action.

    Raises NotFound when the reviewer may not see the action, Invalid for a bad edit or a reject
    without a reason, Conflict (carrying the winning decision) when it was already decided.
    """
    action = action_get(action_id)
    if action is None or not reviewer_may_decide(user=reviewer, action=action):
        raise NotFound("No action with this id is in your queues.")
    verdict = VERBS[decision]
    comment = comment.strip()
    if verdict == Decision.REJECTED and not comment:
        raise Invalid("A rejection needs a reason.", fields={"comment": ["Say why the action is rejected."]})
    if verdict == Decision.MODIFIED:
        if not isinstance(payload, dict):
            raise Invalid(
                "A modification needs the edited payload.", fields={"payload": ["Send the edited payload object."]}
            )
        errors = payload_errors(action.action_type.payload_schema, payload)
        if errors:
            raise Invalid("The edited payload does not fit the action type's schema.", fields={"payload": errors})
    final_payload = {Decision.APPROVED: action.payload, Decision.MODIFIED: payload, Decision.REJECTED: None}[verdict]
    now = timezone.now()
    with transaction.atomic():
        decided = hitl_services.action_transition(
            action_id=action.pk,
            to_status=DECISION_STATUS[verdict],
            decision=verdict,
            decided_by=reviewer,
            decided_at=now,
            decision_comment=comment,
            final_payload=final_payload,
        )
        if decided is None:
            raise _already_decided(action_id)
        audit_record(
            event_type=Type.DECIDED,
            actor=reviewer,
            action=decided,
            decision=verdict,
            time_to_decision_seconds=(now - decided.created_at).total_seconds(),
            modified_action=payload if verdict == Decision.MODIFIED else None,
            before={"status": Status.PENDING},
            after={"status": decided.status, "comment": comment},
        )
    return decided


def _already_decided(action_id) -> Conflict:
    current = action_get(action_id)
    won = {
        "decision": current.decision or None,
        "status": current.status,
        "by": current.decided_by.get_username() if current.decided_by else None,
        "at": current.decided_at.isoformat() if current.decided_at else None,
    }
    return Conflict(f"This action is already {current.status}.", code="already_decided", winner=won)


def reviewer_create(
    *, username: str, password: str, group_keys: list[str], is_staff: bool = False, issue_token: bool = True
):
    """Create (or update) a reviewer in the given groups; returns (user, raw API token or None)."""
    groups = list(ReviewerGroup.objects.filter(key__in=group_keys))
    missing = sorted(set(group_keys) - {group.key for group in groups})
    if missing:
        known = ", ".join(selectors.group_keys()) or "none yet"
        raise Invalid(
            f"Unknown reviewer group(s): {', '.join(missing)}. Known groups: {known}.", fields={"groups": missing}
        )
    with transaction.atomic():
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = user.is_staff or is_staff
        user.save()
        user.reviewer_groups.add(*groups)
        raw = hitl_services.token_issue(user=user, label="create_reviewer") if issue_token else None
    return user, raw
