"""Reviewer verdicts. Each entry point locks the action row, checks, then writes one verdict, the
state change (a conditional UPDATE) and its audit event in one transaction."""

import jsonpatch
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from hitl import services as hitl_services
from hitl.audit import Type, audit_record
from hitl.errors import Conflict, Invalid, NotFound
from hitl.models import Action
from hitl.payloads import payload_errors
from hitl.states import DECISION_STATUS, Decision, Status

from . import selectors
from .claims import check_not_held_by_other
from .models import Claim, RejectReason, ReviewerGroup, Verdict
from .selectors import candidate_payload, reviewer_scope

VERBS = {"approve": Decision.APPROVED, "modify": Decision.MODIFIED, "reject": Decision.REJECTED}
POST_VERBS = {"confirm": Verdict.Kind.CONFIRM, "flag": Verdict.Kind.FLAG}
POST_DONE = {Verdict.Kind.CONFIRM: "confirmed", Verdict.Kind.FLAG: "flagged"}


def review_decide(
    *,
    reviewer: AbstractBaseUser,
    action_id,
    decision: str,
    payload: dict | None = None,
    comment: str = "",
    reason: str = "",
    version: int | None = None,
) -> Action:
    """Approve, modify (with an edited payload) or reject a pending action. Returns the action.

    With several approvals required (four-eyes), an approval is recorded and the action stays
    pending until enough different reviewers approved; any rejection ends it. Raises NotFound when
    the reviewer may not see the action, Invalid for a bad edit or a reject without a reason, and
    Conflict when it was decided already (naming the winner), changed since `version`, is held by
    another reviewer, or this reviewer approved it already.
    """
    comment = comment.strip()
    with transaction.atomic():
        action = _locked(reviewer=reviewer, action_id=action_id)
        if action.status != Status.PENDING:
            raise _already_decided(action)
        _check_unchanged(action, version)
        check_not_held_by_other(action=action, reviewer=reviewer)
        earlier = list(Verdict.objects.filter(action=action).select_related("reviewer"))
        if any(v.reviewer_id == reviewer.pk for v in earlier):
            raise Conflict(
                "You approved this action already; it needs another reviewer's approval.", code="already_approved"
            )
        kind = Verdict.Kind(decision)
        reject_reason = _reject_reason(reason, comment) if kind == Verdict.Kind.REJECT else None
        edited = _edited(action, earlier, payload) if kind == Verdict.Kind.MODIFY else None
        now = timezone.now()
        verdict = Verdict.objects.create(
            action=action,
            reviewer=reviewer,
            kind=kind,
            payload=edited,
            patch=jsonpatch.make_patch(action.payload, edited).patch if edited is not None else None,
            reason=reject_reason,
            comment=comment,
            time_to_decision=now - action.created_at,
            created_at=now,
        )
        verdicts = [*earlier, verdict]
        approvals = sum(v.kind in (Verdict.Kind.APPROVE, Verdict.Kind.MODIFY) for v in verdicts)
        if kind == Verdict.Kind.REJECT or approvals >= action.approvals_required:
            result = _decide(action, reviewer, verdicts, now)
        else:
            result = _record_approval(action, reviewer, verdict, approvals)
        Claim.objects.filter(action=action).delete()
    return result


def _decide(action: Action, reviewer, verdicts: list[Verdict], now) -> Action:
    """The final verdict. Caller holds the lock on `action`."""
    last = verdicts[-1]
    if last.kind == Verdict.Kind.REJECT:
        outcome, final_payload = Decision.REJECTED, None
    else:
        edited = any(v.kind == Verdict.Kind.MODIFY for v in verdicts)
        outcome, final_payload = (
            (Decision.MODIFIED if edited else Decision.APPROVED),
            candidate_payload(action, verdicts),
        )
    comment = " · ".join(filter(None, [last.reason.label if last.reason else "", last.comment]))
    decided = hitl_services.action_transition(
        action_id=action.pk,
        to_status=DECISION_STATUS[outcome],
        decision=outcome,
        decided_by=reviewer,
        decided_at=now,
        decision_comment=comment,
        final_payload=final_payload,
    )
    audit_record(
        event_type=Type.DECIDED,
        actor=reviewer,
        action=decided,
        decision=outcome,
        time_to_decision_seconds=last.time_to_decision.total_seconds(),
        modified_action=final_payload if outcome == Decision.MODIFIED else None,
        before={"status": Status.PENDING, "payload": action.payload},
        after={"status": decided.status, "comment": comment},
        data={
            "approvers": [v.reviewer.get_username() for v in verdicts if v.kind != Verdict.Kind.REJECT],
            "patch": last.patch,
            "reason": last.reason.code if last.reason else "",
        },
    )
    return decided


def _record_approval(action: Action, reviewer, verdict: Verdict, approvals: int) -> Action:
    """One approval of several required. Caller holds the lock on `action`."""
    changed = hitl_services.action_touch(action_id=action.pk)
    audit_record(
        event_type=Type.APPROVAL_RECORDED,
        actor=reviewer,
        action=changed,
        decision=verdict.kind,
        time_to_decision_seconds=verdict.time_to_decision.total_seconds(),
        modified_action=verdict.payload,
        data={"approvals": approvals, "required": action.approvals_required, "patch": verdict.patch},
    )
    return changed


def review_post_action(
    *, reviewer: AbstractBaseUser, action_id, verdict: str, comment: str = "", version: int | None = None
) -> Action:
    """Confirm or flag an action that ran before review, while its review window is open."""
    comment = comment.strip()
    with transaction.atomic():
        action = _locked(reviewer=reviewer, action_id=action_id)
        if action.route_pattern != "post_action":
            raise Conflict("Only an action reviewed after it ran can be confirmed or flagged.", code="not_post_action")
        _check_unchanged(action, version)
        done = Verdict.objects.filter(action=action).select_related("reviewer").first()
        if done is not None:
            raise Conflict(
                f"{done.reviewer.get_username()} already {POST_DONE[done.kind]} this action.",
                code="already_reviewed",
                winner={"verdict": done.kind, "by": done.reviewer.get_username(), "at": done.created_at.isoformat()},
            )
        now = timezone.now()
        if action.due_at is None or action.due_at <= now:
            raise Conflict("The review window of this action has closed.", code="window_closed")
        kind = POST_VERBS[verdict]
        if kind == Verdict.Kind.FLAG and not comment:
            raise Invalid("A flag needs a reason.", fields={"comment": ["Say what is wrong with what ran."]})
        Verdict.objects.create(
            action=action,
            reviewer=reviewer,
            kind=kind,
            comment=comment,
            time_to_decision=now - action.created_at,
            created_at=now,
        )
        changed = hitl_services.action_touch(action_id=action.pk, status=Status.APPROVED)
        audit_record(
            event_type=Type.POST_CONFIRMED if kind == Verdict.Kind.CONFIRM else Type.POST_FLAGGED,
            actor=reviewer,
            action=changed,
            decision=kind,
            time_to_decision_seconds=(now - action.created_at).total_seconds(),
            after={"comment": comment},
        )
        Claim.objects.filter(action=action).delete()
    return changed


def review_reassign(*, lead: AbstractBaseUser, action_id, group_key: str) -> Action:
    """A reviewer senior to the action's tier sends a waiting action to another group (audited)."""
    with transaction.atomic():
        action = _locked(reviewer=lead, action_id=action_id)
        scope = reviewer_scope(lead)
        if action.route_tier not in scope.lower_tiers and not scope.everything:
            raise NotFound("Only a reviewer senior to this action's tier can reassign it.")
        if action.status != Status.PENDING:
            raise _already_decided(action)
        if not ReviewerGroup.objects.filter(key=group_key).exists():
            known = ", ".join(selectors.group_keys())
            raise Invalid(f"Unknown reviewer group {group_key!r}.", fields={"group": [f"Use one of: {known}."]})
        if group_key == action.reviewer_group:
            raise Invalid("The action is in that group already.", fields={"group": ["Pick another group."]})
        before = action.reviewer_group
        changed = hitl_services.action_touch(action_id=action.pk, reviewer_group=group_key)
        audit_record(
            event_type=Type.REASSIGNED, actor=lead, action=changed, before={"group": before}, after={"group": group_key}
        )
        Claim.objects.filter(action=action).delete()
    return changed


def _locked(*, reviewer, action_id) -> Action:
    """The action, locked (SELECT … FOR UPDATE), or NotFound when the reviewer may not see it.

    Caller holds transaction.atomic."""
    # Not decided_by: a row read after waiting for the lock is the committed one, but a joined user
    # row would be from before the wait, so the winner's name is loaded afterwards when needed.
    action = (
        Action.objects.select_for_update(of=("self",))
        .select_related("action_type", "agent")
        .filter(pk=action_id)
        .first()
    )
    if action is None or not reviewer_scope(reviewer).covers(action):
        raise NotFound("No action with this id is in your queues.")
    return action


def _check_unchanged(action: Action, version: int | None) -> None:
    if version is not None and version != action.version:
        raise Conflict(
            "This action changed since you opened it; look at it again before deciding.",
            code="stale_version",
            version=action.version,
        )


def _reject_reason(code: str, comment: str) -> RejectReason | None:
    reason = None
    if code:
        reason = RejectReason.objects.filter(code=code, is_active=True).first()
        if reason is None:
            known = ", ".join(selectors.reject_reasons().values_list("code", flat=True)) or "none configured"
            raise Invalid(f"Unknown reject reason {code!r}.", fields={"reason": [f"Use one of: {known}."]})
    if reason is None and not comment:
        raise Invalid(
            "A rejection needs a reason.",
            fields={"comment": ["Pick a reason or say why the action is rejected."]},
        )
    return reason


def _edited(action: Action, earlier: list[Verdict], payload) -> dict:
    if not isinstance(payload, dict):
        raise Invalid(
            "A modification needs the edited payload.", fields={"payload": ["Send the edited payload object."]}
        )
    errors = payload_errors(action.action_type.payload_schema, payload)
    if errors:
        raise Invalid("The edited payload does not fit the action type's schema.", fields={"payload": errors})
    if payload == candidate_payload(action, earlier):
        raise Invalid("The edit changes nothing; approve the action instead.", fields={"payload": ["Nothing changed."]})
    return payload


def _already_decided(action: Action) -> Conflict:
    won = {
        "decision": action.decision or None,
        "status": action.status,
        "by": action.decided_by.get_username() if action.decided_by else None,
        "at": action.decided_at.isoformat() if action.decided_at else None,
    }
    by = f" by {won['by']}" if won["by"] else ""
    return Conflict(f"This action is already {action.status}{by}.", code="already_decided", winner=won)


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
