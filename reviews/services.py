"""Reviewer verdicts. Each entry point locks the action row, checks, then writes one verdict, the
state change (a conditional UPDATE) and its audit event in one transaction."""

from dataclasses import dataclass

import jsonpatch
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.services import Type, audit_event, audit_record
from calibration.services import label_record
from hitl import events, receipts
from hitl import services as hitl_services
from hitl.db import insert_rows
from hitl.errors import Conflict, Forbidden, Invalid, NotFound
from hitl.models import Action
from hitl.payloads import payload_digest, payload_errors
from hitl.states import DECISION_STATUS, Decision, Status

from . import payload_form, realtime, selectors
from .claims import claim_for_decision
from .models import Claim, RejectReason, ReviewerGroup, Verdict
from .selectors import reviewer_scope

VERBS = {"approve": Decision.APPROVED, "modify": Decision.MODIFIED, "reject": Decision.REJECTED}
POST_VERBS = {"confirm": Verdict.Kind.CONFIRM, "flag": Verdict.Kind.FLAG}
POST_DONE = {Verdict.Kind.CONFIRM: "confirmed", Verdict.Kind.FLAG: "flagged"}


@dataclass(frozen=True)
class Decided:
    """What a reviewer's decision did, as the page tells them."""

    action: Action
    outcome: str  # approved, modified, rejected, approval_recorded, confirmed, flagged
    approvals: int = 0  # of the payload that now waits, when an approval was recorded
    edited: bool = False  # the reviewer's own edit went with it

    @property
    def message(self) -> str:
        summary = self.action.summary
        if self.outcome == "approval_recorded":
            what = "Your edit and your approval are" if self.edited else "Your approval is"
            return (
                f"{what} recorded ({self.approvals} of {self.action.approvals_required}): "
                f"another reviewer must approve the same payload. {summary}"
            )
        done = {
            Decision.APPROVED: "Approved",
            Decision.MODIFIED: "Approved with your edits"
            if self.edited
            else "Approved (with an earlier reviewer's edits)",
            Decision.REJECTED: "Rejected",
            "confirmed": "Confirmed",
            "flagged": "Flagged",
        }[self.outcome]
        return f"{done}: {summary}"


def review_decide(
    *,
    reviewer: AbstractBaseUser,
    action_id,
    decision: str,
    payload: dict | None = None,
    form=None,
    seen_sha256: str = "",
    comment: str = "",
    reason: str = "",
    version: int | None = None,
) -> Decided:
    """Approve (the payload shown, or an edit of it), modify or reject a pending action: what the
    reviewer saw is what is decided.

    The edit comes as `payload` (API) or as the page's edit `form`, read against the payload now
    waiting; an approval whose payload differs from it is an approval with edits. `seen_sha256`
    (and `version`) refuse a decision on a payload that changed since the reviewer saw it. The
    decision goes through the claim (claim_for_decision). With several approvals required
    (four-eyes) an approval counts only for the exact payload approved: an edit restarts the
    count, its author's approval being the first, and earlier approvers are told. Any rejection
    ends the action. Raises NotFound when the reviewer may not see it, Invalid for a bad edit or
    a reject without a reason, Conflict when it was decided already (naming the winner), changed
    since it was seen, is held by another reviewer, or this reviewer approved this payload already.
    """
    comment = comment.strip()
    kind = Verdict.Kind(decision)
    with transaction.atomic():
        action = _locked(reviewer=reviewer, action_id=action_id)
        if action.status != Status.PENDING:
            raise _already_decided(action)
        _check_unchanged(action, version)
        earlier = list(Verdict.objects.filter(action=action).select_related("reviewer"))
        waiting = selectors.approvals_of(action, earlier)
        if seen_sha256 and seen_sha256 != waiting.sha256:
            raise Conflict(
                "The payload changed since you opened this action; look at it again before deciding.",
                code="stale_payload",
                payload_sha256=waiting.sha256,
            )
        claim_for_decision(reviewer=reviewer, action=action)
        reject_reason = None
        if kind == Verdict.Kind.REJECT:
            reject_reason, approved = _reject_reason(reason, comment), waiting.payload
        else:
            approved = _approved_payload(action, waiting, kind, payload, form)
            kind = Verdict.Kind.APPROVE if approved == waiting.payload else Verdict.Kind.MODIFY
        sha256 = payload_digest(approved)
        if kind != Verdict.Kind.REJECT and waiting.approved_by(reviewer) and sha256 == waiting.sha256:
            raise Conflict(
                "You approved this payload already; it needs another reviewer's approval.", code="already_approved"
            )
        now = timezone.now()
        verdict = Verdict.objects.create(
            action=action,
            reviewer=reviewer,
            kind=kind,
            payload=approved if kind == Verdict.Kind.MODIFY else None,
            patch=jsonpatch.make_patch(action.payload, approved).patch if kind == Verdict.Kind.MODIFY else None,
            payload_sha256=sha256,
            reason=reject_reason,
            comment=comment,
            time_to_decision=now - action.created_at,
            created_at=now,
        )
        now_waiting = selectors.approvals_of(action, [*earlier, verdict])
        edited = kind == Verdict.Kind.MODIFY
        if kind == Verdict.Kind.REJECT or len(now_waiting.approvers) >= action.approvals_required:
            result = _decide(action, reviewer, verdict, now_waiting, now, edited=edited)
        else:
            result = _record_approval(action, reviewer, verdict, now_waiting, replaced=waiting if edited else None)
        Claim.objects.filter(action=action).delete()
    return result


def _approved_payload(action: Action, waiting: selectors.Approvals, kind, payload, form) -> dict:
    """The payload an approval approves: the edit the reviewer sent, else the one waiting. A
    modification that changes nothing is refused; an approval with edits is a modification."""
    schema = action.action_type.payload_schema
    if form is not None:
        payload, errors = payload_form.from_form(schema, form, waiting.payload)
        if errors:
            raise Invalid("Some edited fields are not valid.", fields={path: [msg] for path, msg in errors.items()})
    if payload is None or payload == waiting.payload:
        if kind == Verdict.Kind.MODIFY:
            raise Invalid(
                "The edit changes nothing; approve the action instead.", fields={"payload": ["Nothing changed."]}
            )
        return waiting.payload
    if not isinstance(payload, dict):
        raise Invalid(
            "A modification needs the edited payload.", fields={"payload": ["Send the edited payload object."]}
        )
    errors = payload_errors(schema, payload)
    if errors:
        raise Invalid("The edited payload does not fit the action type's schema.", fields={"payload": errors})
    return payload


def _approvals_record(approvals: selectors.Approvals) -> list[dict]:
    """Per approver, what they approved, for the audit log."""
    return [
        {"by": v.reviewer.get_username(), "payload_sha256": v.payload_sha256, "counted": v in approvals.approvers}
        for v in (*approvals.superseded, *approvals.approvers)
    ]


def _decide(action: Action, reviewer, last: Verdict, approvals: selectors.Approvals, now, *, edited: bool) -> Decided:
    """The final verdict. Caller holds the lock on `action`."""
    if last.kind == Verdict.Kind.REJECT:
        outcome, final_payload = Decision.REJECTED, None
    else:
        outcome = Decision.MODIFIED if approvals.edited else Decision.APPROVED
        final_payload = approvals.payload
    comment = " · ".join(filter(None, [last.reason.label if last.reason else "", last.comment]))
    patch = jsonpatch.make_patch(action.payload, final_payload).patch if outcome == Decision.MODIFIED else None
    approvers = [v.reviewer.get_username() for v in approvals.approvers] if final_payload is not None else []
    decided = hitl_services.action_transition(
        action_id=action.pk,
        to_status=DECISION_STATUS[outcome],
        decision=outcome,
        decided_by=reviewer,
        decided_at=now,
        decision_comment=comment,
        final_payload=final_payload,
        receipt=None
        if final_payload is None
        else receipts.sign(
            action_id=action.pk,
            agent=action.agent.name,
            action_type=action.action_type.key,
            final_payload=final_payload,
            decision=outcome,
            approvers=approvers,
            route=action.route_pattern,
            at=now,
        ),
    )
    events.announce_event(action.pk, f"action.{outcome}")
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
            "approvers": approvers,
            "approval_record": _approvals_record(approvals),
            # Whose edit ran, when the decider approved another reviewer's edit.
            "edited_by": next(
                (v.reviewer.get_username() for v in approvals.approvers if v.kind == Verdict.Kind.MODIFY), ""
            )
            if outcome == Decision.MODIFIED
            else "",
            "payload_sha256": approvals.sha256 if final_payload is not None else last.payload_sha256,
            "patch": patch,
            "reason": last.reason.code if last.reason else "",
        },
    )
    label_record(  # the final verdict is calibration's label: approved right, modified or rejected wrong
        action=decided,
        verdict=outcome,
        reviewer=reviewer,
        decided_at=now,
        edit=final_payload if outcome == Decision.MODIFIED else None,
        patch=patch,
    )
    return Decided(decided, outcome, len(approvals.approvers), edited=edited)


def _record_approval(
    action: Action, reviewer, verdict: Verdict, approvals: selectors.Approvals, *, replaced: selectors.Approvals | None
) -> Decided:
    """One approval of several required. An edit (`replaced`: where the approvals stood before
    it) restarts the count, and those who approved the replaced payload are told. Caller holds
    the lock on `action`."""
    changed = hitl_services.action_touch(action_id=action.pk)
    audit_record(
        event_type=Type.APPROVAL_RECORDED,
        actor=reviewer,
        action=changed,
        decision=verdict.kind,
        time_to_decision_seconds=verdict.time_to_decision.total_seconds(),
        modified_action=verdict.payload,
        data={
            "approvals": len(approvals.approvers),
            "required": action.approvals_required,
            "payload_sha256": verdict.payload_sha256,
            "patch": verdict.patch,
            "superseded": sorted({v.reviewer.get_username() for v in replaced.approvers}) if replaced else [],
        },
    )
    if replaced is not None and replaced.approvers:
        realtime.broadcast_notice_on_commit(
            [v.reviewer_id for v in replaced.approvers],
            f"{reviewer.get_username()} edited “{action.summary}” after your approval: "
            "your approval no longer counts; approve the new version if you agree.",
            reverse("reviews:detail", args=[action.pk]),
            action_id=action.pk,  # a notice to each of them: it stays until they dismiss it
        )
    return Decided(changed, "approval_recorded", len(approvals.approvers), edited=verdict.kind == Verdict.Kind.MODIFY)


def review_post_action(
    *, reviewer: AbstractBaseUser, action_id, verdict: str, comment: str = "", version: int | None = None
) -> Decided:
    """Confirm or flag an action that ran before review, while its review window is open. A flag
    asks the agent to compensate (hitl.services.action_compensation_request)."""
    comment = comment.strip()
    with transaction.atomic():
        action = _locked(reviewer=reviewer, action_id=action_id)
        if not action.reviewed_after:
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
            payload_sha256=payload_digest(action.final_payload),
            comment=comment,
            time_to_decision=now - action.created_at,
            created_at=now,
        )
        audit_record(
            event_type=Type.POST_CONFIRMED if kind == Verdict.Kind.CONFIRM else Type.POST_FLAGGED,
            actor=reviewer,
            action=action,
            decision=kind,
            time_to_decision_seconds=(now - action.created_at).total_seconds(),
            after={"comment": comment},
        )
        if kind == Verdict.Kind.FLAG:  # what ran was wrong: the agent is asked to undo it
            changed = hitl_services.action_compensation_request(action_id=action.pk, reason=comment, actor=reviewer)
        else:
            changed = hitl_services.action_touch(action_id=action.pk, status=Status.APPROVED)
        label_record(action=changed, verdict=POST_DONE[kind], reviewer=reviewer, decided_at=now)
        Claim.objects.filter(action=action).delete()
    return Decided(changed, POST_DONE[kind])


def review_reassign(*, lead: AbstractBaseUser, action_id, group_key: str) -> Action:
    """A reviewer senior to the action's tier sends a waiting action to another group (audited)."""
    with transaction.atomic():
        action = _locked(reviewer=lead, action_id=action_id)
        scope = reviewer_scope(lead)
        if action.route_tier not in scope.lower_tiers and not scope.everything:
            raise Forbidden("Only a reviewer senior to this action's tier can reassign it.")
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


def claims_end(*, action_ids: list) -> None:
    """End the claims on actions that left their holders' hands (escalated to another group, or
    expired): the caller's own event says why. Caller holds the locks on the actions."""
    if action_ids:
        Claim.objects.filter(action_id__in=action_ids).delete()


def claims_release_lapsed(*, now) -> int:
    """Delete the claims whose lease ran out, with a `released` event each, in one transaction
    (the SLA sweep calls this). Returns how many."""
    with transaction.atomic():
        lapsed = list(
            # The actions' rows too: they order the actions' audit chains. One a sweep batch holds is
            # skipped, and its claim released on the next run.
            Claim.objects.select_for_update(skip_locked=True, of=("self", "action"), no_key=True)
            .select_related("action__action_type", "action__agent", "holder")
            .filter(expires_at__lte=now)
        )
        if not lapsed:
            return 0
        insert_rows(
            [
                audit_event(
                    event_type=Type.RELEASED,
                    action=claim.action,
                    before={"holder": claim.holder.get_username()},
                    data={"reason": "lease expired"},
                )
                for claim in lapsed
            ]
        )
        Claim.objects.filter(pk__in=[c.pk for c in lapsed], expires_at__lte=now).delete()
        realtime.broadcast_on_commit([claim.action_id for claim in lapsed])
    return len(lapsed)


def toast_group_on_commit(group_key: str, text: str, url: str) -> None:
    """After commit, show the reviewers of group `group_key` a dismissable message linking to `url`
    (an in-app notification)."""
    realtime.broadcast_toast_on_commit(group_key, text, url)
