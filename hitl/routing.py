"""Routing: the risk facts of one action and a policy in, a Route out. Pure: no ORM, no clock.

Until configurable policy rules land, every action waits for a human before it runs
(pre_action, tier1); the threshold is already the type's own or the cold-start default.
"""

from dataclasses import dataclass, field

COLD_START_IRREVERSIBLE = 0.85
COLD_START_REVERSIBLE = 0.70

AUTONOMOUS, POST_ACTION, PRE_ACTION = "autonomous", "post_action", "pre_action"


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True)
class RiskFacts:
    action_type: str
    domain: str
    confidence: float
    irreversible: bool
    blast_radius: int
    compliance_risk: bool
    entity_tags: tuple[str, ...] = ()
    type_threshold: float | None = None
    type_reviewer_group: str = ""


@dataclass(frozen=True)
class Policy:
    version: int = 0
    tier_groups: dict = field(default_factory=lambda: {"tier1": "team", "tier2": "lead", "tier3": "executive"})


@dataclass(frozen=True)
class Route:
    pattern: str
    tier: str | None
    reviewer_group: str
    threshold: float
    reasons: tuple[Reason, ...]
    policy_version: int


def threshold_for(facts: RiskFacts) -> float:
    if facts.type_threshold is not None:
        return facts.type_threshold
    return COLD_START_IRREVERSIBLE if facts.irreversible else COLD_START_REVERSIBLE


def route(facts: RiskFacts, policy: Policy) -> Route:
    tier = "tier1"
    return Route(
        pattern=PRE_ACTION,
        tier=tier,
        reviewer_group=facts.type_reviewer_group or policy.tier_groups[tier],
        threshold=threshold_for(facts),
        reasons=(Reason("review_all", "every action is reviewed before it runs (default policy)"),),
        policy_version=policy.version,
    )
