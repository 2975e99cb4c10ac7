"""Reads of the escalation policy. The chains are plain values: hitl.policy caches them per process
and routing copies the chain onto each action it sends to a human."""

from .models import TierPolicy


def tier_policies() -> dict[str, TierPolicy]:
    """Every tier's policy (a migration creates the design's three)."""
    return {p.tier: p for p in TierPolicy.objects.select_related("escalate_to")}


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


def routing_tiers() -> dict:
    """What routing needs of the tiers (hitl.policy caches it): each tier's escalation chain, which
    routing copies onto the actions it sends there, and the group that reviews each tier."""
    chains = escalation_chains()
    tier_groups = {tier: chain[0]["group"] for tier, chain in chains.items()}
    return {"escalation_chains": chains, **({"tier_groups": tier_groups} if tier_groups else {})}
