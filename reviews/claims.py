"""Claims: a reviewer's lease on a pending action, decided by the database.

Each change locks the action row (SELECT … FOR UPDATE) before reading or writing its claim, so
two reviewers never both hold one action; `claim_next` skips rows another reviewer is taking
(SKIP LOCKED), so two reviewers pressing "next" land on different actions.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from audit.services import Type, audit_lock, audit_record
from hitl.errors import Conflict, Forbidden, NotFound
from hitl.models import Action
from hitl.states import RoutePattern, Status

from . import realtime
from .models import Claim
from .selectors import ReviewerScope, reviewer_scope


def _locked_pending(*, scope: ReviewerScope, action_id) -> Action:
    """The pending action in `scope`, locked. Caller holds transaction.atomic."""
    action = (
        Action.objects.select_for_update(of=("self",))
        .select_related("action_type", "agent")
        .filter(pk=action_id)
        .first()
    )
    if action is None or not scope.covers(action):
        raise NotFound("No action with this id is in your queues.")
    if action.status != Status.PENDING:
        raise Conflict(f"This action is already {action.status}.", code="not_pending", status=action.status)
    return action


def _hold(*, reviewer, scope: ReviewerScope, action: Action, event: str, before=None) -> Claim:
    """Caller holds the lock on `action`. Refused when the reviewer holds their cap of actions
    already; the reviewer's row is locked so that their own parallel claims count each other."""
    now = timezone.now()
    get_user_model().objects.select_for_update().filter(pk=reviewer.pk).exists()
    held = Claim.objects.filter(holder=reviewer, expires_at__gt=now).exclude(action=action).count()
    if held >= scope.wip_cap:
        raise Conflict(
            f"You hold {held} action{'s' if held != 1 else ''}, your limit; decide or release one first.",
            code="wip_cap_reached",
            held=held,
            wip_cap=scope.wip_cap,
        )
    claim = _lease(reviewer=reviewer, action=action, now=now)
    audit_record(
        event_type=event, actor=reviewer, action=action, before=before, after={"holder": reviewer.get_username()}
    )
    realtime.broadcast_on_commit([action.pk])
    return claim


def _lease(*, reviewer, action: Action, now) -> Claim:
    """`action`'s claim, given to `reviewer` from `now` in one statement (INSERT … ON CONFLICT
    UPDATE). Caller holds the lock on `action`."""
    claim = Claim(action=action, holder=reviewer, claimed_at=now, expires_at=now + settings.HITL_CLAIM_LEASE)
    Claim.objects.bulk_create(
        [claim], update_conflicts=True, unique_fields=["action"], update_fields=["holder", "claimed_at", "expires_at"]
    )
    return claim


def check_not_held_by_other(*, action: Action, reviewer) -> None:
    """Refuse, naming the holder, while another reviewer's lease on `action` runs. Caller holds the
    lock on `action`, so the read sees claims committed meanwhile."""
    claim = _held_by_other(action=action, reviewer=reviewer, now=timezone.now())
    if claim is not None:
        raise _held_conflict(claim)


def _held_conflict(claim: Claim) -> Conflict:
    holder = claim.holder.get_username()
    return Conflict(
        f"{holder} is reviewing this action until {claim.expires_at:%H:%M:%S} UTC.",
        code="claimed_by_other",
        holder=holder,
        expires_at=claim.expires_at.isoformat(),
    )


def claim_for_decision(*, reviewer, action: Action) -> None:
    """A decision goes through the claim: refused, naming the holder, while another reviewer holds
    `action`; an unclaimed one is claimed for the decider (audited), which the decision then ends.
    Caller holds the lock on `action`. No WIP cap: the claim lasts as long as the transaction."""
    now = timezone.now()
    live = Claim.objects.select_related("holder").filter(action=action, expires_at__gt=now).first()
    if live is not None:
        if live.holder_id != reviewer.pk:
            raise _held_conflict(live)
        return
    _lease(reviewer=reviewer, action=action, now=now)
    audit_record(
        event_type=Type.CLAIMED,
        actor=reviewer,
        action=action,
        after={"holder": reviewer.get_username()},
        data={"reason": "claimed to decide"},
    )


def claim_take(*, reviewer, action_id) -> Claim:
    """Claim (or renew) a pending action. Refused, naming the holder, while someone else holds it."""
    with transaction.atomic():
        scope = reviewer_scope(reviewer)
        action = _locked_pending(scope=scope, action_id=action_id)
        check_not_held_by_other(action=action, reviewer=reviewer)
        current = Claim.objects.filter(action=action).first()
        renewing = current is not None and current.holder_id == reviewer.pk
        if renewing:
            Claim.objects.filter(pk=current.pk).update(expires_at=timezone.now() + settings.HITL_CLAIM_LEASE)
            current.refresh_from_db()
            return current
        return _hold(reviewer=reviewer, scope=scope, action=action, event=Type.CLAIMED)


def claim_release(*, reviewer, action_id) -> bool:
    """Give back one's own claim. Returns whether there was one."""
    with transaction.atomic():
        audit_lock(action_id)
        released = Claim.objects.filter(action_id=action_id, holder=reviewer).delete()[0] > 0
        if released:
            action = Action.objects.select_related("action_type", "agent").get(pk=action_id)
            audit_record(
                event_type=Type.RELEASED, actor=reviewer, action=action, before={"holder": reviewer.get_username()}
            )
            realtime.broadcast_on_commit([action.pk])
    return released


def claim_take_over(*, lead, action_id) -> Claim:
    """A reviewer senior to the action's tier takes over someone else's claim (audited)."""
    with transaction.atomic():
        scope = reviewer_scope(lead)
        action = _locked_pending(scope=scope, action_id=action_id)
        if action.route_tier not in scope.lower_tiers and not scope.everything:
            raise Forbidden("Only a reviewer senior to this action's tier can take it over.")
        current = Claim.objects.select_related("holder").filter(action=action, expires_at__gt=timezone.now()).first()
        before = {"holder": current.holder.get_username()} if current else None
        claim = _hold(reviewer=lead, scope=scope, action=action, event=Type.TAKEN_OVER, before=before)
        if current is not None and current.holder_id != lead.pk:
            realtime.broadcast_notice_on_commit(
                [current.holder_id],
                f"{lead.get_username()} took over “{action.summary}” from you.",
                reverse("reviews:detail", args=[action.pk]),
                action_id=action.pk,
                reload=True,
            )
        return claim


def _held_by_other(*, action: Action, reviewer, now) -> Claim | None:
    """Another reviewer's live claim on `action`. Caller holds the lock on `action`; this fresh
    read sees claims committed meanwhile."""
    return (
        Claim.objects.select_related("holder")
        .filter(action=action, expires_at__gt=now)
        .exclude(holder=reviewer)
        .first()
    )


def claim_next(*, reviewer, passing_over=()) -> Claim | None:
    """Claim the most urgent action the reviewer may decide that nobody else holds, or None.
    One the reviewer holds already is theirs to resume, unless it is in `passing_over`.

    SKIP LOCKED passes over rows another reviewer is claiming right now. A row whose claim was
    committed after this query's snapshot can still be locked, so the claim is re-read once the
    row is locked, and a row someone holds is skipped.
    """
    now = timezone.now()
    scope = reviewer_scope(reviewer)
    unclaimed = (
        Action.objects.filter(status=Status.PENDING, route_pattern=RoutePattern.PRE_ACTION)
        .filter(scope.q())
        .filter(~Exists(Claim.objects.filter(action=OuterRef("pk"), expires_at__gt=now).exclude(holder=reviewer)))
        .select_related("action_type", "agent")
        .order_by("due_at", "id")
    )
    skipped = list(passing_over)
    while True:
        with transaction.atomic():
            action = unclaimed.exclude(pk__in=skipped).select_for_update(skip_locked=True, of=("self",)).first()
            if action is None:
                return None
            if _held_by_other(action=action, reviewer=reviewer, now=now) is None:
                return _hold(reviewer=reviewer, scope=scope, action=action, event=Type.CLAIMED)
        skipped.append(action.pk)
