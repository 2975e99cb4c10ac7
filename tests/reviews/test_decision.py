"""The decision API for reviewers: POST /api/v1/actions/{id}/decision."""

import pytest

from audit.models import AuditEvent
from hitl.models import Action
from hitl.services import token_issue
from tests.conftest import bearer_client
from tests.factories import ReviewerGroupFactory, UserFactory


def decide(client, action_id, **body):
    return client.post(f"/api/v1/actions/{action_id}/decision", body, format="json")


def test_approve_sets_the_final_payload_and_writes_one_audit_event(submitted, reviewer_api):
    action = submitted()
    response = decide(reviewer_api, action["id"], decision="approve", comment="looks right")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "approved"
    assert body["decision"]["decision"] == "approved" and body["decision"]["by"] == "tina"
    assert body["decision"]["comment"] == "looks right"
    assert body["final_payload"] == Action.objects.get(pk=action["id"]).payload
    event = AuditEvent.objects.get(action_id=action["id"], event_type="decided")
    assert event.actor_type == "reviewer" and event.reviewer.username == "tina"
    assert event.decision == "approved" and event.time_to_decision_seconds >= 0


def test_modify_executes_the_edited_payload(submitted, reviewer_api):
    action = submitted()
    edited = {"to": "jane.park@example.com", "subject": "Your refund", "body": "Fixed the address."}
    response = decide(reviewer_api, action["id"], decision="modify", payload=edited)

    assert response.status_code == 200
    assert response.json()["decision"]["decision"] == "modified"
    assert response.json()["final_payload"] == edited
    assert Action.objects.get(pk=action["id"]).payload["to"] == "jane@example.com"  # the original is kept
    assert AuditEvent.objects.get(action_id=action["id"], event_type="decided").modified_action == edited


def test_reject_needs_a_reason(submitted, reviewer_api):
    action = submitted()
    refused = decide(reviewer_api, action["id"], decision="reject", comment="  ")
    assert refused.status_code == 400 and "comment" in refused.json()["fields"]
    assert Action.objects.get(pk=action["id"]).status == "pending"

    response = decide(reviewer_api, action["id"], decision="reject", comment="Wrong customer")
    assert response.status_code == 200
    assert response.json()["status"] == "rejected" and response.json()["final_payload"] is None


def test_a_modify_that_breaks_the_schema_changes_nothing(submitted, reviewer_api):
    action = submitted()
    response = decide(reviewer_api, action["id"], decision="modify", payload={"to": "nobody"})

    assert response.status_code == 400
    messages = response.json()["fields"]["payload"]
    assert any("$.to" in m for m in messages) and any("subject" in m for m in messages)
    assert Action.objects.get(pk=action["id"]).status == "pending"
    assert not AuditEvent.objects.filter(event_type="decided").exists()


def test_modify_needs_a_payload(submitted, reviewer_api):
    action = submitted()
    response = decide(reviewer_api, action["id"], decision="modify")
    assert response.status_code == 400 and "payload" in response.json()["fields"]


def test_a_second_decision_is_409_naming_the_winner(submitted, reviewer_api):
    action = submitted()
    decide(reviewer_api, action["id"], decision="approve")
    response = decide(reviewer_api, action["id"], decision="reject", comment="too late")

    assert response.status_code == 409
    assert response.json()["error"] == "already_decided"
    assert response.json()["winner"]["decision"] == "approved" and response.json()["winner"]["by"] == "tina"
    assert Action.objects.get(pk=action["id"]).status == "approved"
    assert AuditEvent.objects.filter(action_id=action["id"], event_type="decided").count() == 1


def test_a_cancelled_action_cannot_be_decided(api, submitted, reviewer_api):
    action = submitted()
    api.post(f"/api/v1/actions/{action['id']}/cancel")
    response = decide(reviewer_api, action["id"], decision="approve")
    assert response.status_code == 409 and response.json()["winner"]["status"] == "cancelled"


def test_a_reviewer_outside_the_group_gets_404(submitted, db):
    action = submitted()
    ReviewerGroupFactory(key="finance", kind="expertise", rank=0).members.add(outsider := UserFactory(username="fred"))
    response = decide(bearer_client(token_issue(user=outsider)), action["id"], decision="approve")
    assert response.status_code == 404
    assert Action.objects.get(pk=action["id"]).status == "pending"


def test_a_lead_may_decide_team_items(submitted, db):
    ReviewerGroupFactory(key="team", rank=1)
    ReviewerGroupFactory(key="lead", rank=2).members.add(lead := UserFactory(username="leo"))
    action = submitted()
    assert decide(bearer_client(token_issue(user=lead)), action["id"], decision="approve").status_code == 200


def test_agents_cannot_decide(api, submitted):
    action = submitted()
    response = decide(api, action["id"], decision="approve")
    assert response.status_code == 403
    assert Action.objects.get(pk=action["id"]).status == "pending"


def test_a_logged_in_reviewer_may_decide_with_the_session(submitted, team_reviewer):
    from rest_framework.test import APIClient

    action = submitted()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(team_reviewer)
    without_csrf = decide(client, action["id"], decision="approve")
    assert without_csrf.status_code == 403  # session writes need the CSRF token
    client.get("/accounts/login/")
    client.credentials(HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert decide(client, action["id"], decision="approve").status_code == 200


@pytest.mark.parametrize(
    "body", [{"decision": "maybe"}, {}, {"decision": "approve", "extra": 1}, {"decision": "reject", "comment": 5}]
)
def test_bad_decision_bodies_are_400(submitted, reviewer_api, body):
    action = submitted()
    response = decide(reviewer_api, action["id"], **body)
    assert response.status_code == 400 and response.json()["fields"]
    assert Action.objects.get(pk=action["id"]).status == "pending"


def test_reject_with_a_configured_reason_code(submitted, reviewer_api):
    from reviews.models import RejectReason

    RejectReason.objects.get_or_create(code="wrong_target", defaults={"label": "Wrong recipient or target"})
    action = submitted()
    unknown = decide(reviewer_api, action["id"], decision="reject", reason="nope")
    assert unknown.status_code == 400 and "wrong_target" in unknown.json()["fields"]["reason"][0]
    response = decide(reviewer_api, action["id"], decision="reject", reason="wrong_target")
    assert response.status_code == 200
    assert response.json()["decision"]["comment"] == "Wrong recipient or target"


def test_a_stale_version_is_409_and_changes_nothing(submitted, reviewer_api):
    action = submitted()
    response = decide(reviewer_api, action["id"], decision="approve", version=5)
    assert response.status_code == 409 and response.json()["error"] == "stale_version"
    assert Action.objects.get(pk=action["id"]).status == "pending"
