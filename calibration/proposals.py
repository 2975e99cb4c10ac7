"""Threshold proposals: recalibrated thresholds that fit the reviewers' capacity, with a what-if
replay of each over the recent days; they never apply themselves.

proposals_make() reads, per action type, its human verdicts (the labels, weighted as calibration
weighs them) and its recent actions, and the reviewer groups' daily capacities; the math is
calibration.recalibration's. A type with fewer verdicts than RecalibrationSettings.min_labels keeps
its threshold (and the actions it routes take their share of the capacity first). The replay runs
the product's own routing (hitl.routing.route, with the policy in force) over the type's recent
actions at the current and at the proposed threshold. An admin applies a proposal (the type's
threshold changes like any policy edit: audited, the policy version bumped) or rejects it; or first
runs it in shadow for RecalibrationSettings.shadow_days: the policy in force still routes every
action, and intake records beside it where the proposal's threshold would have routed it
(hitl.services, Action.shadow_route; selectors.shadow_comparison reads them back).
"""

from collections import Counter
from dataclasses import replace
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from audit.services import InAdmin, Type, audit_record
from hitl import routing
from hitl.errors import Conflict, Invalid
from hitl.models import ActionType
from hitl.policy import policy_current, policy_invalidate
from hitl.services import policy_changed, policy_snapshot_of
from hitl.states import RoutePattern
from reviews import selectors as reviews

from . import recalibration
from .models import RecalibrationSettings, ThresholdProposal
from .selectors import recent_facts, threshold_of

_LABELS = """
    SELECT action_type_id, confidence, correct,
        1.0 / greatest(probability, 1e-6)
            * power(0.5, greatest(extract(epoch FROM %(now)s - decided_at), 0) / 86400.0 / %(half_life)s)
    FROM calibration_label
    WHERE action_type_id = ANY(%(types)s) AND decided_at <= %(now)s
"""


def recalibration_settings() -> RecalibrationSettings:
    return RecalibrationSettings.objects.get_or_create(pk=1)[0]


def proposals_make(*, now=None, action_type: ActionType | None = None) -> tuple[list[ThresholdProposal], dict]:
    """Propose a threshold for every active type with enough verdicts (or for `action_type`), and
    supersede their open proposals. Returns the proposals and, per type left out, why (the verdicts
    still needed). Raises Invalid when no reviewer group has a daily capacity to fit."""
    now = now or timezone.now()
    config = recalibration_settings()
    groups = reviews.group_capacities()
    capacity = sum(g.daily_capacity for g in groups if g.daily_capacity is not None)
    if not capacity:
        raise Invalid("No reviewer group has a daily capacity: set them in admin (Reviewer groups) first.")
    types = list(ActionType.objects.filter(is_active=True).order_by("key"))
    labels = _labels(types, now, config.label_half_life_days)
    recent, earliest = recent_facts(types, now - timedelta(days=config.replay_days), now)
    # The days the recent actions cover: a young installation has less than replay_days of them.
    days = min(float(config.replay_days), max((now - (earliest or now)) / timedelta(days=1), 1 / 24))
    wanted = [action_type] if action_type is not None else types
    short = {
        t.key: f"{config.min_labels - len(labels.get(t.pk, []))} more human verdicts needed (has "
        f"{len(labels.get(t.pk, []))} of {config.min_labels})"
        for t in wanted
        if len(labels.get(t.pk, [])) < config.min_labels
    }
    eligible = [t for t in types if len(labels.get(t.pk, [])) >= config.min_labels]
    policy = policy_current()
    inputs, others = [], 0
    for t in types:
        facts = recent.get(t.pk, [])
        if t in eligible:
            forced = [routing.route(replace(f, type_threshold=0.0), policy).pattern != RoutePattern.AUTONOMOUS
                      for f in facts]  # fmt: skip
            mapping = recalibration.isotonic(labels[t.pk])
            recents = tuple(recalibration.Recent(f.confidence, m) for f, m in zip(facts, forced, strict=True))
            data = recalibration.TypeInput(t.key, t.error_cost, mapping, recents, threshold_of(t))
            inputs.append((t, facts, data))
        else:  # its threshold stays: what it routes comes off the capacity first
            others += sum(routing.route(f, policy).pattern != RoutePattern.AUTONOMOUS for f in facts)
    # A type whose rules send every recent action to a person (irreversible, compliance…) has no
    # threshold to move.
    fixed = {t.key for t, _, data in inputs if all(r.forced for r in data.recent)}
    for t, _, data in inputs:
        if t.key in fixed:
            others += len(data.recent)  # all of it goes to a person, whatever the threshold
            if t in wanted:
                short[t.key] = (
                    "its rules send every recent action to a person whatever its confidence"
                    if data.recent
                    else f"no actions in the last {config.replay_days} days to fit"
                )
    inputs = [(t, f, data) for t, f, data in inputs if t.key not in fixed]
    # Audit samples of what runs on its own are reviewed too, out of the same capacity.
    samples = sum(t.audit_sample_rate * len(recent.get(t.pk, [])) for t in types)
    budget = int(capacity * days - samples) - others
    proposed, cutoff = recalibration.thresholds([i for _, _, i in inputs], budget)
    made = []
    with transaction.atomic():
        for t, facts, data in inputs:
            if action_type is not None and t.pk != action_type.pk:
                continue
            current = threshold_of(t)
            low, high = recalibration.interval(data, labels[t.pk], cutoff)
            ThresholdProposal.objects.filter(action_type=t, status=ThresholdProposal.Status.PROPOSED).update(
                status=ThresholdProposal.Status.SUPERSEDED
            )
            made.append(
                ThresholdProposal.objects.create(
                    action_type=t,
                    created_at=now,
                    current_threshold=current,
                    proposed_threshold=proposed[t.key],
                    interval=[low, high],
                    labels=len(labels[t.pk]),
                    mapping=[list(step) for step in data.mapping.steps],
                    capacity=capacity,
                    replay=_replay(data, facts, policy, current, proposed[t.key], days),
                )
            )
        if inputs:  # until a type has enough verdicts, the scheduled task tries again
            RecalibrationSettings.objects.filter(pk=config.pk).update(last_run_at=now)
    return made, short


def _labels(types, now, half_life: int) -> dict[int, list[tuple[float, bool, float]]]:
    """Per type, its verdicts as (confidence, right, weight): weighted as calibration weighs them
    (1 / the chance the action was reviewed), halved every `half_life` days of age, so that an
    agent that drifts is fitted mostly on how it behaves now."""
    found: dict[int, list] = {}
    with connection.cursor() as cursor:
        cursor.execute(_LABELS, {"types": [t.pk for t in types], "now": now, "half_life": half_life})
        for type_id, confidence, correct, weight in cursor.fetchall():
            found.setdefault(type_id, []).append((confidence, correct, float(weight)))
    return found


def _replay(data, facts, policy, current: float, proposed: float, days: float) -> dict:
    """What routing would have done with the type's recent actions at each threshold, per day."""

    def at(threshold: float) -> dict:
        routes = [routing.route(replace(f, type_threshold=threshold), policy) for f in facts]
        sent = [r for r in routes if r.pattern != RoutePattern.AUTONOMOUS]
        return {
            "threshold": threshold,
            "routed_per_day": round(len(sent) / days, 2),
            "routed_share": round(len(sent) / len(routes), 4) if routes else None,
            "pre_action_per_day": round(sum(r.pattern == RoutePattern.PRE_ACTION for r in sent) / days, 2),
            "unreviewed_errors_per_day": round(recalibration.unreviewed_errors(data, threshold) / days, 3),
            "by_tier": {
                tier: round(n / days, 2) for tier, n in sorted(Counter(r.tier for r in sent if r.tier).items())
            },
            "by_group": {
                group: round(n / days, 2) for group, n in sorted(Counter(r.reviewer_group for r in sent).items())
            },
        }

    return {"days": round(days, 2), "actions": len(facts), "before": at(current), "after": at(proposed)}


def _per_day(counts: Counter, days: float) -> dict:
    return {key: round(n / days, 2) for key, n in sorted(counts.items())}


def proposal_decide(*, proposal_id: int, apply: bool, by) -> ThresholdProposal:
    """Apply (the type's threshold becomes the proposal's: audited, the policy version bumped) or
    reject an open proposal, in shadow or not (audited). Conflict when it was decided or superseded
    meanwhile."""
    status = ThresholdProposal.Status.APPLIED if apply else ThresholdProposal.Status.REJECTED
    with transaction.atomic():
        taken = ThresholdProposal.objects.filter(pk=proposal_id, status__in=_OPEN).update(
            status=status, decided_by=by, decided_at=timezone.now()
        )
        proposal = ThresholdProposal.objects.select_related("action_type").get(pk=proposal_id)
        if not taken:
            raise Conflict(f"This proposal is {proposal.status} already: nothing changed.")
        if apply:
            action_type = ActionType.objects.select_for_update().get(pk=proposal.action_type_id)
            before = policy_snapshot_of(action_type)
            action_type.threshold = proposal.proposed_threshold
            action_type.save(update_fields=["threshold", "updated_at"])
            policy_changed(actor=by, subject=action_type, before=before, after=policy_snapshot_of(action_type))
        else:
            _audit(Type.PROPOSAL_REJECTED, proposal, by)
    if proposal.shadow_from:
        policy_invalidate()  # its shadow run ends with it
    return proposal


def proposal_shadow(*, proposal_id: int, by) -> ThresholdProposal:
    """Run an open proposal in shadow for RecalibrationSettings.shadow_days (audited): the policy in
    force routes as before; intake records the proposal's route beside it. Conflict when it is not
    an open proposal (or runs in shadow already)."""
    now = timezone.now()
    until = now + timedelta(days=recalibration_settings().shadow_days)
    with transaction.atomic():
        taken = ThresholdProposal.objects.filter(pk=proposal_id, status=ThresholdProposal.Status.PROPOSED).update(
            status=ThresholdProposal.Status.SHADOW, shadow_from=now, shadow_until=until
        )
        proposal = ThresholdProposal.objects.select_related("action_type").get(pk=proposal_id)
        if not taken:
            raise Conflict(f"This proposal is {proposal.status} already: nothing changed.")
        _audit(Type.PROPOSAL_SHADOWED, proposal, by, until=until.isoformat())
    policy_invalidate()  # this process at once; the others within HITL_POLICY_MAX_AGE
    return proposal


_OPEN = (ThresholdProposal.Status.PROPOSED, ThresholdProposal.Status.SHADOW)


def _audit(event_type: str, proposal: ThresholdProposal, by, **data) -> None:
    audit_record(
        event_type=event_type,
        actor=InAdmin(by),  # decided in Django admin
        action_type=proposal.action_type.key,
        data={
            "proposal": proposal.pk,
            "current_threshold": proposal.current_threshold,
            "proposed_threshold": proposal.proposed_threshold,
            **data,
        },
    )


def shadow_thresholds() -> dict:
    """The policy's thresholds tried in shadow (a hitl.policy source): per action type key, the
    proposal, its threshold and when its run ends."""
    running = ThresholdProposal.objects.filter(
        status=ThresholdProposal.Status.SHADOW, shadow_until__gt=timezone.now()
    ).select_related("action_type")
    return {"shadow_thresholds": {p.action_type.key: (p.pk, p.proposed_threshold, p.shadow_until) for p in running}}


def proposals_due(*, now=None) -> bool:
    """Whether the schedule (RecalibrationSettings.every) calls for new proposals now."""
    config = recalibration_settings()
    now = now or timezone.now()
    return config.last_run_at is None or now - config.last_run_at >= config.every
