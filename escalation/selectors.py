"""Reads of the escalation policy. The chains are plain values: hitl.policy caches them per process
and routing copies the chain onto each action it sends to a human."""

from datetime import timedelta

from django.db import transaction

from .models import TierPolicy

DEFAULTS = [  # the design article's: tier1 4 h → tier2, tier2 1 h → tier3, tier3 15 min → expire, paged
    ("tier1", timedelta(hours=4), "team", "tier2", False),
    ("tier2", timedelta(hours=1), "lead", "tier3", False),
    ("tier3", timedelta(minutes=15), "executive", None, True),
]


def tier_policies() -> dict[str, TierPolicy]:
    """Every tier's policy; the defaults are created the first time none exist."""
    policies = {p.tier: p for p in TierPolicy.objects.select_related("escalate_to")}
    if not policies:
        with transaction.atomic():
            for tier, sla, group, _, page in DEFAULTS:
                on_breach = TierPolicy.OnBreach.EXPIRE if tier == "tier3" else TierPolicy.OnBreach.ESCALATE
                TierPolicy.objects.get_or_create(
                    tier=tier, defaults={"sla": sla, "approver_group": group, "page": page, "on_breach": on_breach}
                )
            for tier, _, _, next_tier, _ in DEFAULTS:
                if next_tier:
                    TierPolicy.objects.filter(tier=tier, escalate_to=None).update(
                        escalate_to=TierPolicy.objects.get(tier=next_tier)
                    )
        policies = {p.tier: p for p in TierPolicy.objects.select_related("escalate_to")}
    return policies


def step_of(policy: TierPolicy) -> dict:
    """One step of an escalation path, as copied onto an action."""
    return {
        "tier": policy.tier,
        "group": policy.approver_group,
        "sla": policy.sla.total_seconds(),
        "warn_at": policy.warning_fractions(),
        "on_breach": policy.on_breach,
        "page": policy.page,
    }


def escalation_chains() -> dict[str, tuple[dict, ...]]:
    """For each tier, the steps an action routed there goes through: its own, then each tier it
    escalates to (admin validation keeps the chain free of cycles; the length guard is a fuse)."""
    policies = tier_policies()
    chains = {}
    for tier, policy in policies.items():
        steps, step = [], policy
        while step is not None and len(steps) < len(policies):
            steps.append(step_of(step))
            escalates = step.on_breach == TierPolicy.OnBreach.ESCALATE and step.escalate_to_id
            step = policies.get(step.escalate_to.tier) if escalates else None
        chains[tier] = tuple(steps)
    return chains
