"""The policy in force — action types, routing settings, rules, expertise — cached per process.

Loaded once, then reloaded when older than HITL_POLICY_MAX_AGE seconds, and at once in the
process that saved a change; so an admin's edit reaches every process within seconds, without
a restart and without a query per submitted action.
"""

import time
from dataclasses import dataclass

from django.conf import settings

from escalation.selectors import escalation_chains

from .models import ActionType
from .policy_models import ExpertiseRoute, PolicyRule, RoutingSettings
from .routing import Policy, Rule


@dataclass(frozen=True)
class Snapshot:
    action_types: dict[str, ActionType]
    policy: Policy
    loaded_at: float


_snapshot: Snapshot | None = None


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
    return RoutingSettings.objects.get_or_create(pk=1)[0]


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
    chains = escalation_chains()
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
            tier_groups={tier: chain[0]["group"] for tier, chain in chains.items()} or dict(settings.HITL_TIER_GROUPS),
            tier_approvals=knobs.tier_approvals(),
            escalation_chains=chains,
        ),
        loaded_at=time.monotonic(),
    )
    return _snapshot
