"""Routing: the risk facts of one action and a policy in, a Route out. Pure: no ORM, no clock.

The layers of the design article, in order: confidence against the type's threshold, hard
policy (compliance-sensitive actions always reach a human), contextual signals (blast radius,
novelty, sensitive entities), and the escalation tier. Each layer may only add scrutiny, so a
riskier action never meets a laxer route.
"""

from dataclasses import dataclass, field

from .states import RoutePattern, Tier

COLD_START_IRREVERSIBLE = 0.85
COLD_START_REVERSIBLE = 0.70

AUTONOMOUS, POST_ACTION, PRE_ACTION = RoutePattern.AUTONOMOUS, RoutePattern.POST_ACTION, RoutePattern.PRE_ACTION
TIER_ORDER = {None: 0, Tier.TIER1: 1, Tier.TIER2: 2, Tier.TIER3: 3}
# The article's confidence bands (route_by_confidence).
CONFIDENT, STANDARD_REVIEW, EXPERT_REVIEW = "autonomous", "standard_review", "expert_review"


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
    novel_type: bool = False  # the first time this agent proposes this action type
    novel_domain: bool = False  # the first time this agent acts in this domain
    # What the agent declared, when the type's floor raised it (irreversible or compliance_risk above).
    declared_irreversible: bool | None = None
    declared_compliance_risk: bool | None = None
    # Audit sampling: an autonomous action is also sent for a review after it ran when the caller's
    # uniform draw in [0, 1) falls below the type's rate (routing itself draws nothing: it is pure).
    audit_sample_rate: float = 0.0
    sample_draw: float = 1.0


@dataclass(frozen=True)
class Rule:
    """An admin's hard override: when every condition given matches, at least this scrutiny."""

    name: str
    action_type: str = ""
    domain: str = ""
    entity_tag: str = ""
    blast_radius_at_least: int | None = None
    confidence_below: float | None = None
    force_pattern: str = ""  # "", POST_ACTION or PRE_ACTION: a floor, never a relaxation
    min_tier: str | None = None
    reviewer_group: str = ""

    def matches(self, facts: "RiskFacts") -> bool:
        return (
            (not self.action_type or self.action_type == facts.action_type)
            and (not self.domain or self.domain == facts.domain)
            and (not self.entity_tag or self.entity_tag in facts.entity_tags)
            and (self.blast_radius_at_least is None or facts.blast_radius >= self.blast_radius_at_least)
            and (self.confidence_below is None or facts.confidence < self.confidence_below)
        )


@dataclass(frozen=True)
class Policy:
    version: int = 0
    blast_high: int = 100  # "high" blast radius: at or above this
    blast_tier3: int = 10_000  # above this: tier3
    interrupt_factor: float = 0.7  # confidence below factor * threshold interrupts
    tier2_confidence: float = 0.6  # below this, at least tier2
    sensitive_tags: frozenset = frozenset({"vip"})
    novelty: bool = True
    rules: tuple[Rule, ...] = ()
    expertise_by_type: dict = field(default_factory=dict)  # action type key -> reviewer group
    expertise_by_domain: dict = field(default_factory=dict)  # domain -> reviewer group
    tier_groups: dict = field(default_factory=lambda: {Tier.TIER1: "team", Tier.TIER2: "lead", Tier.TIER3: "executive"})
    tier_approvals: dict = field(default_factory=lambda: {Tier.TIER1: 1, Tier.TIER2: 1, Tier.TIER3: 2})  # four-eyes
    escalation_chains: dict = field(default_factory=dict)  # tier -> the SLA steps from it on (escalation app)
    # Reviewer groups (reviews app): active members per group (None: not known, nothing checked),
    # and where each overflows to. A group that cannot give a route's approvals does not get it.
    group_members: dict | None = None
    group_fallbacks: dict = field(default_factory=dict)
    # Thresholds tried in shadow (calibration app): action type key -> (proposal id, threshold, until).
    # The threshold in force routes; the other's route is only recorded beside it.
    shadow_thresholds: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    pattern: str
    tier: str | None
    reviewer_group: str
    threshold: float
    reasons: tuple[Reason, ...]
    policy_version: int
    approvals_required: int = 1  # different reviewers who must approve (four-eyes in tier3 by default)
    sampled: bool = False  # an autonomous action picked for a review after it ran
    review_probability: float = 1.0  # the chance it was sent to a human: 1 when routed, the sample rate if not


def threshold_for(facts: RiskFacts) -> float:
    if facts.type_threshold is not None:
        return facts.type_threshold
    return COLD_START_IRREVERSIBLE if facts.irreversible else COLD_START_REVERSIBLE


def route_by_confidence(confidence: float, threshold: float, factor: float = 0.7) -> str:
    """The article's sample: execute, standard review queue, or expert review queue."""
    if confidence >= threshold:
        return CONFIDENT
    if confidence >= threshold * factor:
        return STANDARD_REVIEW
    return EXPERT_REVIEW


def classify_escalation_tier(confidence: float, compliance_risk: bool, blast_radius: int, policy: Policy) -> str:
    """The article's sample: compliance or a very large blast radius → tier3; low confidence → tier2."""
    if compliance_risk or blast_radius > policy.blast_tier3:
        return Tier.TIER3
    if confidence < policy.tier2_confidence:
        return Tier.TIER2
    return Tier.TIER1


def route(facts: RiskFacts, policy: Policy) -> Route:
    threshold = threshold_for(facts)
    c = facts.confidence
    band = route_by_confidence(c, threshold, policy.interrupt_factor)
    reasons: list[Reason] = []
    must_wait = False  # pre_action
    floor = None  # the least tier the signals demand

    def demand(code, message, *, wait=True, tier=None):
        nonlocal must_wait, floor
        reasons.append(Reason(code, message))
        must_wait = must_wait or wait
        if TIER_ORDER[tier] > TIER_ORDER[floor]:
            floor = tier

    for flag, declared in (("irreversible", facts.declared_irreversible),
                           ("compliance_risk", facts.declared_compliance_risk)):  # fmt: skip
        if declared is False and getattr(facts, flag):
            reasons.append(
                Reason(
                    f"{flag}_raised",
                    f"declared {flag}: false, but every {facts.action_type} action is {flag.replace('_', ' ')}",
                )
            )
    if facts.compliance_risk:
        demand("compliance_risk", "compliance exposure: tier3", tier=Tier.TIER3)
    rule_reviews, rule_group, rule_name = False, "", ""  # admin rules: hard overrides, in priority order
    for rule in policy.rules:
        if rule.matches(facts):
            demand(
                "policy_rule", f"policy rule: {rule.name}", wait=rule.force_pattern == PRE_ACTION, tier=rule.min_tier
            )
            rule_reviews = rule_reviews or bool(rule.force_pattern or rule.min_tier)
            if rule.reviewer_group and not rule_group:
                rule_group, rule_name = rule.reviewer_group, rule.name
    if band == EXPERT_REVIEW:
        demand(
            "confidence_interrupt",
            f"confidence {c:.2f} is below {policy.interrupt_factor:g} × threshold {threshold:.2f}: expert review",
            tier=Tier.TIER2,
        )
    if facts.blast_radius > policy.blast_tier3:
        demand(
            "blast_radius_critical",
            f"blast radius {facts.blast_radius:,} is above {policy.blast_tier3:,}",
            tier=Tier.TIER3,
        )
    elif facts.blast_radius >= policy.blast_high:
        demand(
            "blast_radius_high",
            f"blast radius {facts.blast_radius:,} is at or above {policy.blast_high:,}",
            tier=Tier.TIER2,
        )
    if facts.irreversible:
        demand("irreversible", "irreversible action type: approved before it runs")
    sensitive = sorted(set(facts.entity_tags) & policy.sensitive_tags)
    if sensitive:
        demand("sensitive_entity", f"sensitive entity ({', '.join(sensitive)})", tier=Tier.TIER1)
    if policy.novelty and facts.novel_type:
        demand("novel_action_type", f"first {facts.action_type} from this agent", tier=Tier.TIER1)
    elif policy.novelty and facts.novel_domain:
        demand("novel_domain", f"first action of this agent in {facts.domain or 'this domain'}", tier=Tier.TIER1)

    if not (must_wait or rule_reviews) and band == CONFIDENT:
        reasons.append(Reason("confident", f"confidence {c:.2f} meets threshold {threshold:.2f}"))
        rate = facts.audit_sample_rate
        if facts.sample_draw < rate:
            group, why = _reviewer_group(facts, policy, Tier.TIER1, 1, "", "")
            reasons.append(Reason("audit_sample", f"audit sample ({rate:.0%} of {facts.action_type} actions that run "
                                  f"on their own): reviewed after it runs by {group}, {why}"))  # fmt: skip
            return Route(AUTONOMOUS, Tier.TIER1, group, threshold, tuple(reasons), policy.version, 1, True, rate)
        return Route(AUTONOMOUS, None, "", threshold, tuple(reasons), policy.version, review_probability=rate)

    tier = classify_escalation_tier(c, facts.compliance_risk, facts.blast_radius, policy)
    if TIER_ORDER[floor] > TIER_ORDER[tier]:
        tier = floor
    if tier == Tier.TIER2 and TIER_ORDER[floor] < TIER_ORDER[Tier.TIER2]:
        reasons.append(Reason("low_confidence", f"confidence {c:.2f} is below {policy.tier2_confidence:g}: tier2"))
    if must_wait:
        pattern = PRE_ACTION
    else:
        pattern = POST_ACTION
        if band != CONFIDENT:
            reasons.append(
                Reason(
                    "below_threshold", f"confidence {c:.2f} is below threshold {threshold:.2f}: reviewed after it runs"
                )
            )
    approvals = policy.tier_approvals.get(tier, 1) if pattern == PRE_ACTION else 1
    group, why = _reviewer_group(facts, policy, tier, approvals, rule_group, rule_name)
    reasons.append(Reason("reviewer_group", f"reviewed by {group}: {why}"))
    return Route(pattern, tier, group, threshold, tuple(reasons), policy.version, approvals)


def _reviewer_group(facts: RiskFacts, policy: Policy, tier: str, approvals: int, rule_group: str, rule_name: str):
    """The group that reviews the action, and why: the first named by a policy rule, the action
    type, the expertise table or the tier; unless it has fewer active members than the approvals
    the route needs, when the first of its fallbacks, or else the tier's group, that has enough
    does. When none has, the tier's group: the action waits (and expires) rather than run."""
    named = [
        (rule_group, f"policy rule {rule_name} names it"),
        (facts.type_reviewer_group, f"the reviewer group of {facts.action_type}"),
        (policy.expertise_by_type.get(facts.action_type), f"the expertise group for {facts.action_type}"),
        (policy.expertise_by_domain.get(facts.domain), f"the expertise group for {facts.domain or 'its domain'}"),
        (policy.tier_groups[tier], f"{tier}'s reviewer group"),
    ]
    group, why = next((group, why) for group, why in named if group)
    members = policy.group_members
    if members is None or members.get(group, 0) >= approvals:
        return group, why
    # Reasons name no group but the one that reviews it: the others by their role.
    short = f"{why} has {_people(members.get(group, 0))}, fewer than the {_approvals(approvals)} {tier} needs"
    candidates, seen, step = [], {group}, policy.group_fallbacks.get(group)
    while step and step not in seen:
        candidates.append(step)
        seen.add(step)
        step = policy.group_fallbacks.get(step)
    candidates.append(policy.tier_groups[tier])
    able = next((c for c in candidates if members.get(c, 0) >= approvals), None)
    if able is None:
        return policy.tier_groups[tier], f"{short}, and no group it may go to has enough: it waits for members"
    return able, f"{short}"


def _people(n: int) -> str:
    return f"{n} active member{'' if n == 1 else 's'}"


def _approvals(n: int) -> str:
    return f"{n} approval{'' if n == 1 else 's'}"
