"""hitl.routing is pure: these tests need no database."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hitl.routing import (
    TIER_ORDER,
    Policy,
    Reason,
    RiskFacts,
    Rule,
    classify_escalation_tier,
    route,
    route_by_confidence,
)

POLICY = Policy()
PATTERN_ORDER = {"autonomous": 0, "post_action": 1, "pre_action": 2}  # the order of scrutiny


def facts(c, *, irreversible=False, blast=1, compliance=False, tags=(), threshold=None, novel=False, group=""):
    return RiskFacts(
        action_type="t",
        domain="d",
        confidence=c,
        irreversible=irreversible,
        blast_radius=blast,
        compliance_risk=compliance,
        entity_tags=tuple(tags),
        type_threshold=threshold,
        type_reviewer_group=group,
        novel_type=novel,
    )


# (label, facts, pattern, tier): the default semantics, row by row. Reversible t = 0.70,
# irreversible t = 0.85; interrupt below 0.7·t (0.49 and 0.595).
SEMANTICS = [
    ("reversible, low blast, c >= t", facts(0.70), "autonomous", None),
    ("reversible, low blast, c = 1", facts(1.0), "autonomous", None),
    ("reversible, low blast, 0.7t <= c < t", facts(0.65), "post_action", "tier1"),
    ("reversible, low blast, at 0.7t exactly", facts(0.49), "post_action", "tier2"),
    ("reversible, low blast, below t and below 0.6", facts(0.55), "post_action", "tier2"),
    ("any, c < 0.7t (reversible)", facts(0.48), "pre_action", "tier2"),
    ("any, c < 0.7t (irreversible)", facts(0.59, irreversible=True), "pre_action", "tier2"),
    ("reversible, high blast, high c", facts(0.99, blast=100), "pre_action", "tier2"),
    ("reversible, high blast, just under high", facts(0.99, blast=99), "autonomous", None),
    ("reversible, blast above 10,000", facts(0.99, blast=10_001), "pre_action", "tier3"),
    ("reversible, blast at 10,000", facts(0.99, blast=10_000), "pre_action", "tier2"),
    ("irreversible, low blast, high c", facts(0.99, irreversible=True), "pre_action", "tier1"),
    ("irreversible, low blast, 0.6 <= c", facts(0.60, irreversible=True), "pre_action", "tier1"),
    ("irreversible, low blast, c < 0.6 (interrupt too)", facts(0.595, irreversible=True), "pre_action", "tier2"),
    ("irreversible, high blast, high c", facts(0.99, irreversible=True, blast=500), "pre_action", "tier2"),
    ("irreversible, blast above 10,000", facts(0.99, irreversible=True, blast=20_000), "pre_action", "tier3"),
    ("compliance, high c, reversible", facts(0.99, compliance=True), "pre_action", "tier3"),
    ("compliance, irreversible", facts(0.9, irreversible=True, compliance=True), "pre_action", "tier3"),
    ("sensitive entity, confident", facts(0.99, tags=["vip"]), "pre_action", "tier1"),
    ("untracked tag does nothing", facts(0.99, tags=["newsletter"]), "autonomous", None),
    ("novel type, confident", facts(0.99, novel=True), "pre_action", "tier1"),
    ("type threshold used", facts(0.5, threshold=0.5), "autonomous", None),
    ("type threshold interrupts", facts(0.34, threshold=0.5), "pre_action", "tier2"),
]


@pytest.mark.parametrize("label,risk,pattern,tier", SEMANTICS, ids=[row[0] for row in SEMANTICS])
def test_default_semantics(label, risk, pattern, tier):
    result = route(risk, POLICY)
    assert (result.pattern, result.tier) == (pattern, tier)
    assert result.reasons and all(r.code and r.message for r in result.reasons)


# The design article's route_by_confidence, case by case, at t = 0.85 (factor 0.7).
@pytest.mark.parametrize(
    "c,expected",
    [
        (0.85, "autonomous"),
        (0.99, "autonomous"),
        (0.84, "standard_review"),
        (0.595, "standard_review"),
        (0.5949, "expert_review"),
        (0.0, "expert_review"),
    ],
)
def test_route_by_confidence_sample(c, expected):
    assert route_by_confidence(c, 0.85) == expected
    # The full router is at least as strict: standard review is post- or pre-action, expert review pre-action tier2+.
    routed = route(facts(c, threshold=0.85), POLICY)
    if expected == "autonomous":
        assert routed.pattern == "autonomous"
    elif expected == "standard_review":
        assert routed.pattern in ("post_action", "pre_action")
    else:
        assert routed.pattern == "pre_action" and TIER_ORDER[routed.tier] >= TIER_ORDER["tier2"]


# The article's classify_escalation_tier, case by case.
@pytest.mark.parametrize(
    "c,compliance,blast,expected",
    [
        (0.9, True, 1, "tier3"),
        (0.9, False, 10_001, "tier3"),
        (0.9, False, 10_000, "tier1"),
        (0.59, False, 1, "tier2"),
        (0.6, False, 1, "tier1"),
        (0.1, True, 1, "tier3"),
        (0.1, False, 50_000, "tier3"),
    ],
)
def test_classify_escalation_tier_sample(c, compliance, blast, expected):
    assert classify_escalation_tier(c, compliance, blast, POLICY) == expected
    routed = route(facts(c, compliance=compliance, blast=blast, irreversible=True), POLICY)
    assert TIER_ORDER[routed.tier] >= TIER_ORDER[expected]  # where table and sample overlap, the stricter wins


def test_reasons_explain_the_route():
    result = route(facts(0.4, irreversible=True, blast=250, tags=["vip"]), POLICY)
    codes = [r.code for r in result.reasons]
    assert codes[:4] == ["confidence_interrupt", "blast_radius_high", "irreversible", "sensitive_entity"]
    assert "0.40" in result.reasons[0].message


def test_group_is_the_tier_group_unless_the_type_overrides():
    assert route(facts(0.99, blast=20_000), POLICY).reviewer_group == "executive"
    assert route(facts(0.99, blast=20_000, group="finance"), POLICY).reviewer_group == "finance"


def test_thresholds_and_policy_version_are_reported():
    assert route(facts(0.9), POLICY).threshold == 0.70
    assert route(facts(0.9, irreversible=True), POLICY).threshold == 0.85
    assert route(facts(0.9), Policy(version=7)).policy_version == 7


risk_facts = st.builds(
    facts,
    st.floats(0, 1),
    irreversible=st.booleans(),
    blast=st.integers(0, 100_000),
    compliance=st.booleans(),
    tags=st.lists(st.sampled_from(["vip", "newsletter"]), max_size=2),
    threshold=st.one_of(st.none(), st.floats(0.05, 1)),
    novel=st.booleans(),
)


def scrutiny(result):
    return PATTERN_ORDER[result.pattern], TIER_ORDER[result.tier]


def more_risky(f, **changes):
    from dataclasses import replace

    return replace(f, **changes)


@given(risk_facts, st.integers(0, 50_000), st.floats(0, 1))
def test_more_risk_never_means_less_scrutiny(f, more_blast, less_confidence):
    base = scrutiny(route(f, POLICY))
    riskier = [
        more_risky(f, blast_radius=f.blast_radius + more_blast),
        more_risky(f, irreversible=True, type_threshold=f.type_threshold),
        more_risky(f, compliance_risk=True),
        more_risky(f, entity_tags=(*f.entity_tags, "vip")),
        more_risky(f, confidence=f.confidence * less_confidence),
    ]
    for other in riskier:
        pattern, tier = scrutiny(route(other, POLICY))
        assert pattern >= base[0] and tier >= base[1], other  # neither the pattern nor the tier drops


@given(risk_facts)
def test_routing_is_deterministic(f):
    assert route(f, POLICY) == route(f, POLICY)


def test_rules_add_scrutiny_and_pick_the_group():
    rule = Rule(
        name="big refunds", action_type="t", blast_radius_at_least=10, min_tier="tier3", reviewer_group="finance"
    )
    policy = Policy(rules=(rule,))
    assert route(facts(0.99, blast=5), policy).pattern == "autonomous"
    matched = route(facts(0.99, blast=10), policy)
    assert (matched.pattern, matched.tier, matched.reviewer_group) == ("post_action", "tier3", "finance")
    assert matched.reasons[0] == Reason("policy_rule", "policy rule: big refunds")
    forced = route(facts(0.99), Policy(rules=(Rule(name="all t", action_type="t", force_pattern="pre_action"),)))
    assert (forced.pattern, forced.tier) == ("pre_action", "tier1")


def test_the_first_matching_rule_chooses_the_group():
    rules = (Rule(name="a", domain="d", reviewer_group="legal"), Rule(name="b", domain="d", reviewer_group="finance"))
    assert route(facts(0.2), Policy(rules=rules)).reviewer_group == "legal"


def test_expertise_table_by_type_then_domain():
    policy = Policy(expertise_by_type={"t": "clinical"}, expertise_by_domain={"d": "legal"})
    assert route(facts(0.2), policy).reviewer_group == "clinical"
    assert route(facts(0.2), Policy(expertise_by_domain={"d": "legal"})).reviewer_group == "legal"


rules = st.lists(
    st.builds(
        Rule,
        name=st.just("r"),
        entity_tag=st.sampled_from(["", "vip", "newsletter"]),
        blast_radius_at_least=st.one_of(st.none(), st.integers(0, 50_000)),
        confidence_below=st.one_of(st.none(), st.floats(0.01, 1)),
        force_pattern=st.sampled_from(["", "post_action", "pre_action"]),
        min_tier=st.sampled_from([None, "tier1", "tier2", "tier3"]),
    ),
    max_size=3,
)


@given(risk_facts, rules, st.integers(0, 50_000), st.floats(0, 1))
def test_with_any_rules_more_risk_never_means_less_scrutiny(f, some_rules, more_blast, less_confidence):
    policy = Policy(rules=tuple(some_rules))
    base = scrutiny(route(f, policy))
    for other in (
        more_risky(f, blast_radius=f.blast_radius + more_blast),
        more_risky(f, compliance_risk=True),
        more_risky(f, entity_tags=(*f.entity_tags, "vip", "newsletter")),
        more_risky(f, confidence=f.confidence * less_confidence),
    ):
        pattern, tier = scrutiny(route(other, policy))
        assert pattern >= base[0] and tier >= base[1], other
