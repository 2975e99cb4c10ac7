"""Every stored action carries its route and reasons; agents can preview and read them."""

import pytest

from audit.models import AuditEvent
from hitl.models import Action
from tests.conftest import submit_body
from tests.factories import ActionTypeFactory


@pytest.fixture
def preference_type(db):
    return ActionTypeFactory(key="update_preference", irreversible=False, payload_schema=None, domain="comms")


def test_a_confident_reversible_action_runs_on_its_own(api, preference_type, submitted):
    submitted(action_type="update_preference", payload={"k": 1}, entity={})  # no longer novel
    body = submitted(action_type="update_preference", payload={"k": 2}, confidence=0.95, entity={})

    assert body["status"] == "approved"
    assert body["route"]["pattern"] == "autonomous" and body["route"]["tier"] is None
    assert body["decision"]["decision"] == "approved" and body["decision"]["by"] == "policy"
    assert body["final_payload"] == {"k": 2}
    assert body["due_at"] is None
    assert "confident" in body["route"]["reason_codes"]


def test_a_first_proposal_of_a_type_waits_for_a_human(api, preference_type, submitted):
    body = submitted(action_type="update_preference", payload={}, confidence=0.95, entity={})
    assert body["status"] == "pending"
    assert body["route"]["pattern"] == "pre_action" and body["route"]["tier"] == "tier1"
    assert "novel_action_type" in body["route"]["reason_codes"]


def test_a_hesitant_reversible_action_runs_and_is_reviewed_afterwards(api, preference_type, submitted):
    submitted(action_type="update_preference", payload={}, entity={})
    body = submitted(action_type="update_preference", payload={}, confidence=0.6, entity={})
    assert body["status"] == "approved" and body["route"]["pattern"] == "post_action"
    assert body["route"]["tier"] == "tier1" and body["route"]["reviewer_group"] == "team"


def test_the_stored_action_and_its_audit_event_carry_the_route(api, submitted):
    body = submitted(confidence=0.3, blast_radius=20_000)
    action = Action.objects.get(pk=body["id"])
    assert (action.route_pattern, action.route_tier, action.reviewer_group) == ("pre_action", "tier3", "executive")
    codes = [reason["code"] for reason in action.route_reasons]
    assert {"confidence_interrupt", "blast_radius_critical", "irreversible"} <= set(codes)
    assert api.get(f"/api/v1/actions/{body['id']}").json()["route"]["reasons"] == [
        r["message"] for r in action.route_reasons
    ]
    event = AuditEvent.objects.get(action=action)
    assert event.routing_tier == "tier3" and event.after["route"] == "pre_action"


def test_preview_returns_the_route_and_stores_nothing(api):
    response = api.post("/api/v1/actions/preview", submit_body(confidence=0.3), format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.json()["route"]["pattern"] == "pre_action" and response.json()["route"]["tier"] == "tier2"
    assert not Action.objects.exists() and not AuditEvent.objects.filter(event_type="submitted").exists()


@pytest.mark.parametrize("body", [submit_body(confidence=2), submit_body(action_type="nope"), submit_body(payload=[1])])
def test_preview_validates_exactly_like_submit(api, body):
    preview = api.post("/api/v1/actions/preview", body, format="json")
    submit = api.post("/api/v1/actions", body, format="json")
    assert preview.status_code == submit.status_code == 400
    assert preview.json() == submit.json()
