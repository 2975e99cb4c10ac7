"""Writes of the core domain: agents and tokens, submitting actions and moving them through states."""

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from functools import partial

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.forms.models import model_to_dict
from django.utils import timezone

from audit.services import InAdmin, Type, audit_event, audit_record

from . import events, receipts, routing, wakeups
from .db import insert_together
from .errors import Conflict, NotFound
from .models import Action, ActionType, Agent, ApiToken, RoutingSettings, new_webhook_secret
from .policy import policy_current, policy_invalidate
from .redaction import redacted
from .selectors import agent_novelty, novelty_remember, token_forget
from .states import Compensation, Decision, Outcome, Status, check_transition
from .tokens import token_generate, token_hash, token_prefix


def agent_create(*, name: str, description: str = "", actor=None) -> tuple[Agent, str]:
    """Create an agent and its first token. Returns (agent, raw token); the raw token is not stored."""
    with transaction.atomic():
        agent = Agent.objects.create(name=name, description=description)
        audit_record(event_type=Type.AGENT_CREATED, actor=actor, agent=agent, after={"name": name})
        raw = token_issue(agent=agent, label="initial", actor=actor)
    return agent, raw


def agent_change(*, agent: Agent, fields: list[str], actor=None) -> None:
    """Save an agent's edited `fields` (name, description, is_active) with an audit event of what
    they were and became; nothing when none changed."""
    fields = [name for name in fields if name in ("name", "description", "is_active")]
    if not fields:
        return
    with transaction.atomic():
        stored = Agent.objects.select_for_update().get(pk=agent.pk)
        before = {name: getattr(stored, name) for name in fields}
        after = {name: getattr(agent, name) for name in fields}
        agent.save(update_fields=fields)
        audit_record(event_type=Type.AGENT_CHANGED, actor=actor, agent=agent, before=before, after=after)
    if "is_active" in fields:
        token_forget()  # a deactivated agent's tokens stop working here at once, elsewhere within the cache time


def agent_webhook_secret_rotate(*, agent: Agent, grace: timedelta, actor=None) -> str:
    """Give the agent a new webhook secret and return it; the one it replaces keeps signing beside it
    (a second v1 in Hitl-Signature) for `grace`, so its receivers can switch over. Audited without
    either secret."""
    until = timezone.now() + grace if grace > timedelta(0) else None
    with transaction.atomic():
        stored = Agent.objects.select_for_update().get(pk=agent.pk)
        stored.webhook_secret_previous = stored.webhook_secret if until else ""
        stored.webhook_secret_previous_until = until
        stored.webhook_secret = new_webhook_secret()
        stored.save(update_fields=["webhook_secret", "webhook_secret_previous", "webhook_secret_previous_until"])
        audit_record(
            event_type=Type.AGENT_CHANGED,
            actor=actor,
            agent=stored,
            after={"webhook_secret": "rotated", "previous_signs_until": until.isoformat() if until else None},
        )
    return stored.webhook_secret


def token_issue(*, agent: Agent | None = None, user=None, label: str = "", actor=None) -> str:
    """Issue a bearer token for an agent or a reviewer; returns the raw token, shown once."""
    raw = token_generate()
    with transaction.atomic():
        token = ApiToken.objects.create(
            agent=agent, user=user, prefix=token_prefix(raw), token_hash=token_hash(raw), label=label
        )
        audit_record(
            event_type=Type.TOKEN_ISSUED, actor=actor, agent=agent, after={"token": token.prefix, "label": label}
        )
    return raw


def token_revoke(*, token: ApiToken, actor=None) -> None:
    with transaction.atomic():
        if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            token_forget(token.token_hash)  # harmless if this rolls back: the next use re-reads
            audit_record(event_type=Type.TOKEN_REVOKED, actor=actor, agent=token.agent, after={"token": token.prefix})


def risk_facts(action_type: ActionType, **facts) -> routing.RiskFacts:
    """What routing weighs about an action of `action_type`: the action's `facts` (confidence, risk
    flags, entity tags; novelty and sampling at intake) and the type's own threshold and group."""
    return routing.RiskFacts(
        action_type=action_type.key,
        domain=action_type.domain,
        type_threshold=action_type.threshold,
        type_reviewer_group=action_type.reviewer_group,
        **facts,
    )


def action_prepare(
    *,
    agent: Agent,
    action_type: ActionType,
    payload: dict,
    summary: str,
    confidence: float,
    reasoning: str = "",
    context: dict | None = None,
    irreversible: bool | None = None,
    blast_radius: int = 1,
    compliance_risk: bool | None = None,
    entity: dict | None = None,
    task_id: str = "",
    callback_url: str = "",
) -> Action:
    """Route one proposed action and build its row, unsaved. Input is already validated.

    Reads nothing but, until this process knows the agent's history with the type, its novelty.
    """
    # The type's flags are floors: an agent may declare more risk than its type, never less (and
    # the route's reasons say when its declaration was raised).
    declared_irreversible, declared_compliance_risk = irreversible, compliance_risk
    irreversible = action_type.irreversible or bool(irreversible)
    compliance_risk = action_type.compliance_sensitive or bool(compliance_risk)
    entity = entity or {}
    novel_type, novel_domain = agent_novelty(agent=agent, action_type=action_type)
    policy = policy_current()
    facts = risk_facts(
        action_type,
        confidence=confidence,
        irreversible=irreversible,
        blast_radius=blast_radius,
        compliance_risk=compliance_risk,
        entity_tags=tuple(entity.get("tags", ())),
        novel_type=novel_type,
        novel_domain=novel_domain,
        declared_irreversible=declared_irreversible,
        declared_compliance_risk=declared_compliance_risk,
        audit_sample_rate=action_type.audit_sample_rate,
        sample_draw=_draws.random(),
    )
    route = routing.route(facts, policy)
    now = timezone.now()
    waits = route.pattern == routing.PRE_ACTION
    path = policy.escalation_chains.get(route.tier, ()) if waits else ()
    due_at = _due_at(route, path, now, action_type.review_window)
    action = Action(
        id=uuid.uuid4(),
        agent=agent,
        action_type=action_type,
        payload=payload,
        summary=summary,
        reasoning=reasoning,
        context=context or {},
        confidence=confidence,
        irreversible=irreversible,
        blast_radius=blast_radius,
        compliance_risk=compliance_risk,
        entity=entity,
        task_id=task_id,
        callback_url=callback_url,
        status=Status.PENDING if waits else Status.APPROVED,
        route_pattern=route.pattern,
        route_tier=route.tier or "",
        reviewer_group=route.reviewer_group,
        route_threshold=route.threshold,
        route_reasons=[{"code": r.code, "message": r.message} for r in route.reasons],
        policy_version=route.policy_version,
        due_at=due_at,
        escalation_path=list(path),
        sla_next_at=now if waits else due_at,  # announced by the next sweep; a review window closes
        approvals_required=route.approvals_required,
        sampled=route.sampled,
        review_probability=route.review_probability,
        shadow_route=_shadow_route(facts, policy, now),
        created_at=now,
        updated_at=now,
    )
    if not waits:
        action.decision, action.decided_at, action.final_payload = Decision.APPROVED, now, payload
        action.receipt = receipts.sign(  # approved by policy: no approvers
            action_id=action.id,
            agent=agent.name,
            action_type=action_type.key,
            final_payload=payload,
            decision=Decision.APPROVED,
            approvers=[],
            route=route.pattern,
            at=now,
        )
    return action


def _shadow_route(facts: routing.RiskFacts, policy: routing.Policy, now) -> dict | None:
    """Where the threshold tried in shadow for the type, if any, would have routed the action (the
    same facts and sample draw; only the type's threshold differs)."""
    trial = policy.shadow_thresholds.get(facts.action_type)
    if trial is None or now >= trial[2]:
        return None
    proposal, threshold, _ = trial
    route = routing.route(replace(facts, type_threshold=threshold), policy)
    return {
        "proposal": proposal,
        "threshold": threshold,
        "pattern": route.pattern,
        "tier": route.tier or "",
        "reviewer_group": route.reviewer_group,
    }


def _due_at(route: routing.Route, path, now, review_window: timedelta):
    """A waiting action is due at its tier's SLA; the review window of one that ran before review
    (post-action, or an audit sample) closes after the action type's review_window."""
    if route.pattern == routing.PRE_ACTION:
        return now + timedelta(seconds=path[0]["sla"])  # the first step of its escalation path
    if route.pattern == routing.POST_ACTION or route.sampled:
        return now + review_window
    return None


_draws = random.SystemRandom()  # audit sampling: which autonomous actions a reviewer also sees


def action_create(*, action: Action) -> Action:
    """Store a prepared action with its audit event, atomically and in one round trip."""
    submitted = audit_event(
        event_type=Type.SUBMITTED,
        actor=action.agent,
        action=action,
        after={"status": action.status, "route": action.route_pattern, "tier": action.route_tier},
    )
    insert_together(action, submitted)
    events.announce_submitted(action.pk, routed=bool(action.reviewer_group))
    transaction.on_commit(partial(novelty_remember, agent=action.agent, action_type=action.action_type))
    return action


def action_submit(**fields) -> Action:
    """Route and store one proposed action (action_prepare, then action_create)."""
    return action_create(action=action_prepare(**fields))


def action_transition(
    *, action_id, to_status: str, from_status: str = Status.PENDING, where=None, **changes
) -> Action | None:
    """Move an action from `from_status` to `to_status` with one conditional UPDATE.

    Caller holds transaction.atomic and writes the audit event. Returns the updated action, or
    None when no row matched (someone else moved it first, or `where` excluded it).
    """
    check_transition(from_status, to_status)
    rows = Action.objects.filter(pk=action_id, status=from_status, **(where or {})).update(
        status=to_status, version=F("version") + 1, updated_at=timezone.now(), sla_next_at=None, **changes
    )
    if not rows:
        return None
    wakeups.action_changed_on_commit(action_id)
    events.announce_changed([action_id])
    return Action.objects.select_related("action_type", "agent", "decided_by").get(pk=action_id)


def action_touch(*, action_id, status: str = Status.PENDING, **changes) -> Action:
    """Record a change that keeps the state (one approval of several, a post-action review, a
    reassignment, with `changes`) and bump `version`, so forms opened before it are refused.
    Caller holds the lock on the action and writes the audit event."""
    Action.objects.filter(pk=action_id, status=status).update(
        version=F("version") + 1, updated_at=timezone.now(), **changes
    )
    wakeups.action_changed_on_commit(action_id)  # an agent may wait for any new version
    events.announce_changed([action_id])
    return Action.objects.select_related("action_type", "agent", "decided_by").get(pk=action_id)


def _missing_or_conflict(*, agent: Agent, action_id, conflict: Callable[[Action], Conflict]) -> Exception:
    current = Action.objects.filter(pk=action_id, agent=agent).first()
    if current is None:
        return NotFound("No action with this id belongs to your agent.")
    return conflict(current)


def action_cancel(*, agent: Agent, action_id) -> Action:
    """The agent withdraws its pending action."""
    with transaction.atomic():
        action = action_transition(action_id=action_id, to_status=Status.CANCELLED, where={"agent": agent})
        if action is None:
            raise _missing_or_conflict(
                agent=agent,
                action_id=action_id,
                conflict=lambda a: Conflict(
                    f"Only a pending action can be cancelled; this one is {a.status}.",
                    code="not_pending",
                    status=a.status,
                ),
            )
        audit_record(
            event_type=Type.CANCELLED,
            actor=agent,
            action=action,
            before={"status": Status.PENDING},
            after={"status": action.status},
        )
    return action


def action_outcome_report(*, agent: Agent, action_id, outcome: str, detail: dict) -> Action:
    """The agent reports whether it executed an approved action. Once per action."""
    with transaction.atomic():
        rows = Action.objects.filter(pk=action_id, agent=agent, status=Status.APPROVED, outcome="").update(
            outcome=Outcome(outcome), outcome_detail=detail, outcome_at=timezone.now(), version=F("version") + 1
        )
        if not rows:
            raise _missing_or_conflict(agent=agent, action_id=action_id, conflict=_outcome_conflict)
        wakeups.action_changed_on_commit(action_id)
        action = Action.objects.select_related("action_type", "agent", "decided_by").get(pk=action_id)
        audit_record(
            event_type=Type.OUTCOME_REPORTED, actor=agent, action=action, after={"outcome": outcome, "detail": detail}
        )
    return action


def _outcome_conflict(action: Action) -> Conflict:
    if action.outcome:
        return Conflict(
            f"The outcome was already reported: {action.outcome}.",
            code="outcome_already_reported",
            outcome=action.outcome,
        )
    return Conflict(
        f"Only an approved action has an outcome; this one is {action.status}.",
        code="not_approved",
        status=action.status,
    )


def action_compensation_request(*, action_id, reason: str, actor) -> Action:
    """Ask the agent to undo an approved action that ran (a post-action reviewer flagged it): one
    conditional UPDATE (only once per action), audited, announced as
    "action.compensation_requested" after commit. Caller holds transaction.atomic; Conflict when
    compensation was requested already or the action is not approved."""
    now = timezone.now()
    rows = Action.objects.filter(pk=action_id, status=Status.APPROVED, compensation="").update(
        compensation=Compensation.REQUESTED,
        compensation_reason=reason,
        compensation_requested_at=now,
        version=F("version") + 1,
        updated_at=now,
    )
    action = Action.objects.select_related("action_type", "agent", "decided_by").get(pk=action_id)
    if not rows:
        if action.compensation:
            raise Conflict(
                f"Compensation was already requested for this action; it is {action.compensation}.",
                code="compensation_already_requested",
                compensation=action.compensation,
            )
        raise Conflict(
            f"Only an approved action can be compensated; this one is {action.status}.",
            code="not_approved",
            status=action.status,
        )
    audit_record(
        event_type=Type.COMPENSATION_REQUESTED,
        actor=actor,
        action=action,
        after={"compensation": action.compensation, "reason": reason},
    )
    wakeups.action_changed_on_commit(action_id)
    events.announce_changed([action_id])
    events.announce_event(action_id, "action.compensation_requested")
    return action


def action_compensation_report(*, agent: Agent, action_id, outcome: str, detail: dict) -> Action:
    """The agent reports whether it undid an action it was asked to compensate
    (`compensated` or `compensation_failed`): accepted once, only while compensation is requested."""
    with transaction.atomic():
        rows = Action.objects.filter(pk=action_id, agent=agent, compensation=Compensation.REQUESTED).update(
            compensation=Compensation(outcome),
            compensation_detail=detail,
            compensation_at=timezone.now(),
            version=F("version") + 1,
            updated_at=timezone.now(),
        )
        if not rows:
            raise _missing_or_conflict(agent=agent, action_id=action_id, conflict=_compensation_conflict)
        wakeups.action_changed_on_commit(action_id)
        events.announce_changed([action_id])
        action = Action.objects.select_related("action_type", "agent", "decided_by").get(pk=action_id)
        audit_record(
            event_type=Type.COMPENSATION_REPORTED,
            actor=agent,
            action=action,
            before={"compensation": Compensation.REQUESTED},
            after={"compensation": outcome, "detail": detail},
        )
    return action


def _compensation_conflict(action: Action) -> Conflict:
    if not action.compensation:
        return Conflict(
            "No compensation was requested for this action.", code="compensation_not_requested", compensation=None
        )
    return Conflict(
        f"Compensation was already reported: {action.compensation}.",
        code="compensation_already_reported",
        compensation=action.compensation,
    )


def policy_snapshot_of(obj) -> dict | None:
    """A JSON-safe dict of a policy row's fields, for the audit log's before and after; a
    many-to-many field (a group's members) as the sorted names of its rows; the fields a row's
    `secret_fields()` names (a webhook URL) redacted, since the log keeps them forever."""
    if obj is None:
        return None
    many = [field.name for field in obj._meta.many_to_many]
    fields = model_to_dict(obj, exclude=many)
    fields.update({name: sorted(str(row) for row in getattr(obj, name).all()) for name in many})
    for name in obj.secret_fields() if hasattr(obj, "secret_fields") else ():
        fields[name] = redacted(fields[name])
    return json.loads(json.dumps(fields, cls=DjangoJSONEncoder))


def policy_changed(*, actor, subject, before: dict | None, after: dict | None) -> int:
    """Record an admin's change to the routing policy: bump the version, audit who changed what.

    Caller holds the transaction of the change (Django admin does). Returns the new version.
    """
    RoutingSettings.objects.get_or_create(pk=1)  # a migration made it; it exists before it is bumped
    RoutingSettings.objects.filter(pk=1).update(version=F("version") + 1)
    version = RoutingSettings.objects.values_list("version", flat=True).get(pk=1)
    audit_record(
        event_type=Type.POLICY_CHANGED,
        actor=InAdmin(actor),
        before=before,
        after=after,
        data={"model": subject._meta.label, "object": str(subject), "policy_version": version},
    )
    policy_invalidate()  # the version changed too
    return version
