"""The policy in force — action types, routing settings, rules, expertise — cached per process.

Loaded once, then reloaded when older than HITL_POLICY_MAX_AGE seconds, and at once in the
process that saved a change; so an admin's edit reaches every process within seconds, without
a restart and without a query per submitted action.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from .models import ActionType
from .policy_models import ExpertiseRoute, PolicyRule, RoutingSettings
from .routing import Policy, Rule
from .states import Tier


@dataclass(frozen=True)
class Snapshot:
    action_types: dict[str, ActionType]
    policy: Policy
    loaded_at: float


_snapshot: Snapshot | None = None
_sources: list[Callable[[], dict]] = []


def policy_source(read: Callable[[], dict]) -> Callable[[], dict]:
    """Register what a feature app adds to the policy: `read()` returns Policy fields (for example
    the reviewer groups' active members), read with the rest on every load."""
    _sources.append(read)
    return read


def policy_snapshot() -> Snapshot:
    snapshot = _snapshot
    if snapshot is None or time.monotonic() - snapshot.loaded_at > settings.HITL_POLICY_MAX_AGE:
        snapshot = _load()
    return snapshot


def policy_current() -> Policy:
    return policy_snapshot().policy


def policy_invalidate(**signal_kwargs) -> None:
    global _snapshot
    _snapshot = None


def routing_settings() -> RoutingSettings:
    """The one row of routing settings (a migration creates it); its defaults, unsaved, without it."""
    return RoutingSettings.objects.filter(pk=1).first() or RoutingSettings(pk=1)


def _load() -> Snapshot:
    global _snapshot
    knobs = routing_settings()
    rules = tuple(
        Rule(
            name=rule.name,
            action_type=rule.action_type.key if rule.action_type else "",
            domain=rule.domain,
            entity_tag=rule.entity_tag,
            blast_radius_at_least=rule.blast_radius_at_least,
            confidence_below=rule.confidence_below,
            force_pattern=rule.force_pattern,
            min_tier=rule.min_tier or None,
            reviewer_group=rule.reviewer_group,
        )
        for rule in PolicyRule.objects.filter(is_active=True).select_related("action_type")
    )
    expertise = list(ExpertiseRoute.objects.select_related("action_type"))
    contributed = {}
    for read in _sources:
        contributed.update(read())
    _snapshot = Snapshot(
        action_types={t.key: t for t in ActionType.objects.filter(is_active=True)},
        policy=Policy(
            version=knobs.version,
            blast_high=knobs.blast_high,
            blast_tier3=knobs.blast_tier3,
            interrupt_factor=knobs.interrupt_factor,
            tier2_confidence=knobs.tier2_confidence,
            sensitive_tags=knobs.tag_set(),
            novelty=knobs.novelty,
            rules=rules,
            expertise_by_type={e.action_type.key: e.reviewer_group for e in expertise if e.action_type},
            expertise_by_domain={e.domain: e.reviewer_group for e in expertise if e.domain},
            tier_approvals=knobs.tier_approvals(),
            **contributed,
        ),
        loaded_at=time.monotonic(),
    )
    return _snapshot


def incomplete_routes() -> tuple[list[str], list[str]]:
    """Where the policy sends actions to a reviewer group with fewer active members than the
    approvals they need: (each tier whose own group is short, which would leave its actions
    waiting for nobody until they expire; each group an action type, the expertise table or a
    policy rule names that is short for a tier its actions can reach, which routing passes over
    for a fallback or the tier's group, hitl.routing)."""
    snapshot = _load()
    policy = snapshot.policy
    members = policy.group_members
    if members is None:
        return [], []
    tiers = []
    for tier, group in policy.tier_groups.items():
        needed, have = policy.tier_approvals.get(tier, 1), members.get(group, 0)
        if have < needed:
            tiers.append(
                f"{tier}'s reviewer group {group} has {have} active member(s) and {tier} needs {needed} "
                f"approval(s): its actions wait for nobody and expire. Add members to {group}."
            )
    all_tiers = tuple(policy.tier_groups)
    named = [
        (t.reviewer_group, f"action type {t.key}", (Tier.TIER3,) if t.compliance_sensitive else all_tiers)
        for t in snapshot.action_types.values()
    ]
    named += [(g, f"the expertise route for {key}", all_tiers) for key, g in policy.expertise_by_type.items()]
    named += [(g, f"the expertise route for domain {d}", all_tiers) for d, g in policy.expertise_by_domain.items()]
    named += [
        (
            r.reviewer_group,
            f"policy rule {r.name}",
            all_tiers[all_tiers.index(r.min_tier) :] if r.min_tier else all_tiers,
        )
        for r in policy.rules
    ]
    passed_over = []
    for group, where, reachable in named:
        short = [tier for tier in reachable if members.get(group, 0) < policy.tier_approvals.get(tier, 1)]
        if group and short:
            passed_over.append(
                f"{where} names {group}, which has {members.get(group, 0)} active member(s): its {', '.join(short)} "
                "actions need more approvals than that, so routing sends them to a fallback or the tier's group."
            )
    return tiers, passed_over
