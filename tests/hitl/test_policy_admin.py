"""Admins tune routing in Django admin; the next submit obeys, and every change is audited."""

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from hitl.models import ExpertiseRoute, PolicyRule, RoutingSettings
from hitl.policy import routing_settings
from tests.conftest import submit_body
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory


@pytest.fixture
def admin_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.fixture
def groups(db):
    """The tier groups and finance, each with as many reviewers as its approvals need."""
    for key, rank, members in (("team", 1, 1), ("lead", 2, 1), ("executive", 3, 2)):
        group = ReviewerGroupFactory(key=key, rank=rank)
        group.members.add(*(UserFactory(username=f"{key}-{n}") for n in range(members)))
    finance = ReviewerGroupFactory(key="finance", kind="expertise", rank=0)
    finance.members.add(UserFactory(username="fiona"))
    return finance


def rule_form(**overrides):
    fields = {
        "name": "refunds over the limit",
        "priority": "10",
        "is_active": "on",
        "action_type": "",
        "domain": "",
        "entity_tag": "",
        "blast_radius_at_least": "",
        "confidence_below": "",
        "force_pattern": "",
        "min_tier": "",
        "reviewer_group": "",
    }
    fields.update(overrides)
    return fields


def test_a_threshold_change_in_admin_reaches_the_next_submit(admin_client, api, email_type):
    assert api.post("/api/v1/actions", submit_body(), format="json").json()["route"]["threshold"] == 0.85
    form = {
        "key": "send_email", "name": "Send email", "domain": "comms", "irreversible": "on",
        "payload_schema": "null", "threshold": "0.95", "audit_sample_rate": "0", "error_cost": "1",
        "review_window": "04:00:00",
        "is_active": "on",
    }  # fmt: skip
    response = admin_client.post(f"/admin/hitl/actiontype/{email_type.pk}/change/", form)
    assert response.status_code == 302, response.content
    body = api.post("/api/v1/actions", submit_body(), format="json").json()
    assert body["route"]["threshold"] == 0.95
    assert body["route"]["policy_version"] == 2


def test_every_policy_change_bumps_the_version_and_is_audited(admin_client, email_type, groups):
    response = admin_client.post(
        "/admin/hitl/policyrule/add/", rule_form(domain="comms", min_tier="tier2", reviewer_group="lead")
    )
    assert response.status_code == 302, response.content
    rule = PolicyRule.objects.get()
    admin_client.post(f"/admin/hitl/policyrule/{rule.pk}/change/", rule_form(domain="comms", min_tier="tier3"))
    admin_client.post(f"/admin/hitl/policyrule/{rule.pk}/delete/", {"post": "yes"})

    assert RoutingSettings.objects.get().version == 4
    events = list(AuditEvent.objects.filter(event_type="policy_changed").order_by("id"))
    assert [e.data["policy_version"] for e in events] == [2, 3, 4]
    assert all(e.actor_type == "admin" and e.actor_label == "root" for e in events)
    added, changed, deleted = events
    assert added.before is None and added.after["min_tier"] == "tier2"
    assert changed.before["min_tier"] == "tier2" and changed.after["min_tier"] == "tier3"
    assert deleted.before["name"] == "refunds over the limit" and deleted.after is None


APPROVALS = {"approvals_tier1": "1", "approvals_tier2": "1", "approvals_tier3": "2"}


def test_routing_settings_change_the_route(admin_client, api, email_type, submitted):
    submitted()  # not novel any more
    body = submit_body(blast_radius=50, entity={})
    assert api.post("/api/v1/actions", body, format="json").json()["route"]["tier"] == "tier1"
    form = {"blast_high": "40", "blast_tier3": "10000", "interrupt_factor": "0.7", "tier2_confidence": "0.6",
            "sensitive_tags": "vip, board", "novelty": "on", **APPROVALS}  # fmt: skip
    assert admin_client.post(f"/admin/hitl/routingsettings/{routing_settings().pk}/change/", form).status_code == 302
    assert api.post("/api/v1/actions", body, format="json").json()["route"]["tier"] == "tier2"


def test_a_rule_routes_matching_actions(admin_client, api, groups):
    refund = ActionTypeFactory(key="issue_refund", irreversible=False, payload_schema=None, domain="finance")
    api.post("/api/v1/actions", submit_body(action_type="issue_refund", payload={}, entity={}), format="json")
    confident = submit_body(action_type="issue_refund", payload={"amount": 5000}, confidence=0.99, entity={})
    assert api.post("/api/v1/actions", confident, format="json").json()["route"]["pattern"] == "autonomous"

    form = rule_form(action_type=str(refund.pk), force_pattern="pre_action", min_tier="tier2", reviewer_group="finance")
    assert admin_client.post("/admin/hitl/policyrule/add/", form).status_code == 302
    route = api.post("/api/v1/actions", confident, format="json").json()["route"]
    assert (route["pattern"], route["tier"], route["reviewer_group"]) == ("pre_action", "tier2", "finance")
    assert "policy_rule" in route["reason_codes"]


def test_the_expertise_table_chooses_the_group(admin_client, api, groups):
    ActionTypeFactory(key="issue_refund", irreversible=True, payload_schema=None, domain="finance")
    assert (
        admin_client.post(
            "/admin/hitl/expertiseroute/add/", {"domain": "finance", "reviewer_group": "finance"}
        ).status_code
        == 302
    )
    route = api.post("/api/v1/actions", submit_body(action_type="issue_refund", payload={}), format="json").json()
    assert route["route"]["reviewer_group"] == "finance" and route["route"]["tier"] == "tier1"
    assert ExpertiseRoute.objects.count() == 1


@pytest.mark.parametrize(
    "fields,message",
    [
        ({}, "Give at least one condition"),
        ({"domain": "comms"}, "The rule does nothing"),
        ({"confidence_below": "0", "min_tier": "tier2"}, "could never match"),
        ({"confidence_below": "1.5", "min_tier": "tier2"}, "less than or equal to 1"),
        ({"domain": "comms", "reviewer_group": "nobody"}, "No reviewer group"),
    ],
)
def test_admin_refuses_rules_that_cannot_work(admin_client, groups, fields, message):
    response = admin_client.post("/admin/hitl/policyrule/add/", rule_form(**fields))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not PolicyRule.objects.exists()
    assert not AuditEvent.objects.filter(event_type="policy_changed").exists()


def test_admin_refuses_a_rule_whose_type_is_not_in_its_domain(admin_client, email_type, groups):
    response = admin_client.post(
        "/admin/hitl/policyrule/add/", rule_form(action_type=str(email_type.pk), domain="finance", min_tier="tier2")
    )
    assert "could never match" in response.content.decode()
    assert not PolicyRule.objects.exists()


@pytest.mark.parametrize(
    "form,message",
    [
        ({"interrupt_factor": "1.2"}, "less than or equal to 1"),
        ({"tier2_confidence": "-0.1"}, "greater than or equal to 0"),
        ({"blast_high": "500", "blast_tier3": "100"}, "at least the high blast radius"),
        ({"approvals_tier3": "0"}, "greater than or equal to 1"),
    ],
)
def test_admin_refuses_bad_routing_settings(admin_client, form, message):
    fields = {"blast_high": "100", "blast_tier3": "10000", "interrupt_factor": "0.7", "tier2_confidence": "0.6",
              "sensitive_tags": "vip", "novelty": "on", **APPROVALS, **form}  # fmt: skip
    response = admin_client.post(f"/admin/hitl/routingsettings/{routing_settings().pk}/change/", fields)
    assert response.status_code == 200 and message in response.content.decode()
    assert RoutingSettings.objects.get().version == 1


def test_expertise_needs_a_type_or_a_domain(admin_client, groups):
    response = admin_client.post("/admin/hitl/expertiseroute/add/", {"reviewer_group": "finance"})
    assert "either an action type or a domain" in response.content.decode()
