"""Every route can be completed: no action goes to a group with fewer active members than the
approvals it needs, admin refuses such a rule, `manage.py check` warns; and the agent hears when
its declared risk was raised."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from hitl.routing import Policy, RiskFacts, route
from tests.conftest import submit_body
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

GROUPS = {"team": 1, "lead": 1, "executive": 2, "finance": 1}  # active members


def trade(**overrides):
    fields = dict(action_type="execute_trade", domain="finance", confidence=0.95, irreversible=True, blast_radius=1,
                  compliance_risk=True, type_reviewer_group="finance")  # fmt: skip
    return RiskFacts(**{**fields, **overrides})


def test_a_four_eyes_route_to_a_one_member_group_goes_to_a_group_that_can_complete_it():
    policy = Policy(group_members=GROUPS)
    routed = route(trade(), policy)
    assert (routed.tier, routed.approvals_required, routed.reviewer_group) == ("tier3", 2, "executive")
    assert routed.reasons[-1].message == (
        "reviewed by executive: the reviewer group of execute_trade has 1 active member, "
        "fewer than the 2 approvals tier3 needs"
    )
    # The reasons name no group but the one that reviews it.
    assert all("finance" not in r.message and "an executive" not in r.message for r in routed.reasons)

    with_fallback = Policy(group_members={**GROUPS, "treasury": 3}, group_fallbacks={"finance": "treasury"})
    assert route(trade(), with_fallback).reviewer_group == "treasury"  # its fallback first
    two_in_finance = Policy(group_members={**GROUPS, "finance": 2})
    kept = route(trade(), two_in_finance)
    assert kept.reviewer_group == "finance"
    assert kept.reasons[-1].message == "reviewed by finance: the reviewer group of execute_trade"


def test_when_no_group_can_complete_it_the_tier_group_keeps_it_and_says_so():
    routed = route(trade(), Policy(group_members={"finance": 1, "executive": 1}))
    assert routed.reviewer_group == "executive"  # it waits (and expires) rather than run
    assert "no group it may go to has enough: it waits for members" in routed.reasons[-1].message


def test_a_route_to_a_group_says_which_group_reviews_it_and_why():
    routed = route(trade(compliance_risk=False, type_reviewer_group=""), Policy(group_members=GROUPS))
    assert routed.reasons[-1].message == "reviewed by team: tier1's reviewer group"
    expert = route(trade(compliance_risk=False, type_reviewer_group=""),
                   Policy(group_members=GROUPS, expertise_by_domain={"finance": "finance"}))  # fmt: skip
    assert expert.reasons[-1].message == "reviewed by finance: the expertise group for finance"


@pytest.fixture
def groups(db):
    made = {}
    for key, members in GROUPS.items():
        kind = "expertise" if key == "finance" else "tier"
        rank = {"team": 1, "lead": 2, "executive": 3}.get(key, 0)
        made[key] = ReviewerGroupFactory(key=key, kind=kind, rank=rank)
        made[key].members.add(*(UserFactory(username=f"{key}-{n}") for n in range(members)))
    return made


@pytest.fixture
def admin_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def type_form(**overrides):
    return {"key": "execute_trade", "name": "Execute trade", "domain": "finance", "irreversible": "on",
            "compliance_sensitive": "on", "payload_schema": "null", "reviewer_group": "finance",
            "audit_sample_rate": "0.02", "error_cost": "1", "review_window": "04:00:00", "is_active": "on",
            **overrides}  # fmt: skip


def test_admin_refuses_a_compliance_sensitive_type_for_a_group_too_small_for_tier3(admin_client, groups):
    refused = admin_client.post("/admin/hitl/actiontype/add/", type_form())
    html = refused.content.decode()
    assert refused.status_code == 200 and "finance has 1 active member; tier3 needs 2 approvals." in html
    assert "leave this empty so that tier3&#x27;s own group reviews them" in html
    groups["finance"].members.add(UserFactory(username="fred"))
    assert admin_client.post("/admin/hitl/actiontype/add/", type_form()).status_code == 302


def test_at_run_time_such_an_action_is_rerouted_with_its_reason(api, groups, agent):
    ActionTypeFactory(key="execute_trade", domain="finance", compliance_sensitive=True, payload_schema=None,
                      reviewer_group="finance")  # saved before finance lost a member, say  # fmt: skip
    body = submit_body(action_type="execute_trade", payload={"symbol": "ACME"}, entity={})
    answer = api.post("/api/v1/actions", body, format="json").json()
    assert (answer["route"]["tier"], answer["route"]["reviewer_group"]) == ("tier3", "executive")
    assert answer["route"]["reasons"][-1] == (
        "reviewed by executive: the reviewer group of execute_trade has 1 active member, "
        "fewer than the 2 approvals tier3 needs"
    )
    assert "reviewer_group" in answer["route"]["reason_codes"]


def test_manage_py_check_warns_of_routes_no_group_can_complete(groups):
    ActionTypeFactory(key="execute_trade", domain="finance", compliance_sensitive=True, payload_schema=None,
                      reviewer_group="finance")  # fmt: skip
    get_user_model().objects.filter(username="executive-1").update(is_active=False)
    out = StringIO()
    call_command("check", stdout=out, stderr=out)
    printed = out.getvalue()
    assert "hitl.W001" in printed
    assert "tier3's reviewer group executive has 1 active member(s) and tier3 needs 2 approval(s)" in printed
    assert "execute_trade" not in printed  # routing passes finance over: admin says so, the check does not


def test_the_agent_hears_when_the_types_floor_raised_its_declared_risk(api, groups):
    ActionTypeFactory(key="execute_trade", domain="finance", compliance_sensitive=True, payload_schema=None)
    body = submit_body(irreversible=False)  # send_email is irreversible
    reasons = api.post("/api/v1/actions/preview", body, format="json").json()["route"]
    assert "irreversible_raised" in reasons["reason_codes"]
    assert "declared irreversible: false, but every send_email action is irreversible" in reasons["reasons"]
    trade_body = submit_body(action_type="execute_trade", payload={}, compliance_risk=False, entity={})
    raised = api.post("/api/v1/actions/preview", trade_body, format="json").json()["route"]
    assert "declared compliance_risk: false, but every execute_trade action is compliance risk" in raised["reasons"]
    silent = api.post("/api/v1/actions/preview", submit_body(), format="json").json()["route"]  # nothing declared
    assert "irreversible_raised" not in silent["reason_codes"]
