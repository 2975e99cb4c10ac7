import uuid

from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from hitl.models import Action
from tests.conftest import bearer_client, submit_body
from tests.factories import ActionTypeFactory


def test_submit_returns_the_contract_shape_and_stores_the_action(api, agent):
    response = api.post("/api/v1/actions", submit_body(), format="json", HTTP_X_REQUEST_ID="req-123")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending"
    assert body["route"]["pattern"] == "pre_action"
    assert body["route"]["tier"] == "tier1"
    assert body["route"]["reviewer_group"] == "team"
    assert body["route"]["threshold"] == 0.85  # send_email is irreversible: cold-start threshold
    assert body["route"]["reasons"] and body["route"]["reason_codes"]
    assert body["due_at"] is not None
    assert body["decision"] is None and body["final_payload"] is None and body["outcome"] is None
    action = Action.objects.get(pk=body["id"])
    assert action.agent == agent
    assert action.payload["to"] == "jane@example.com"
    assert action.entity == {"id": "cust_42", "tags": ["vip"]}
    assert action.irreversible is True  # defaulted from the action type
    assert action.compliance_risk is False
    event = AuditEvent.objects.get(action=action)
    assert event.event_type == "submitted"
    assert event.actor_type == "agent" and event.actor_label == "support-bot"
    assert event.request_id == "req-123"
    assert event.agent_confidence == 0.82 and event.routing_tier == "tier1" and event.action_type == "send_email"


def test_defaults_come_from_the_action_type(api):
    ActionTypeFactory(key="update_preference", irreversible=False, compliance_sensitive=True, payload_schema=None)
    body = submit_body(action_type="update_preference", payload={"key": "x"})
    del body["blast_radius"]
    response = api.post("/api/v1/actions", body, format="json")

    assert response.status_code == 201
    action = Action.objects.get(pk=response.json()["id"])
    assert (action.irreversible, action.compliance_risk, action.blast_radius) == (False, True, 1)
    assert response.json()["route"]["threshold"] == 0.70


def test_the_agent_may_add_risk_to_type_defaults_but_not_remove_it(api):
    response = api.post("/api/v1/actions", submit_body(irreversible=False, compliance_risk=True), format="json")
    action = Action.objects.get(pk=response.json()["id"])
    assert (action.irreversible, action.compliance_risk) == (True, True)  # send_email is irreversible
    assert response.json()["route"]["tier"] == "tier3"


def test_a_compliance_sensitive_type_always_reaches_a_human(api, submitted):
    ActionTypeFactory(key="execute_trade", irreversible=False, compliance_sensitive=True, payload_schema=None)
    body = submit_body(action_type="execute_trade", payload={}, confidence=1.0, compliance_risk=False, entity={})
    submitted(**body)  # not novel any more
    route = api.post("/api/v1/actions", body, format="json").json()["route"]
    assert (route["pattern"], route["tier"]) == ("pre_action", "tier3")


def statements(captured) -> int:
    """Queries, without the SAVEPOINTs that the test's own wrapping transaction turns atomic() into."""
    return sum(1 for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT")))


def test_submit_issues_a_fixed_number_of_queries(api, django_capture_on_commit_callbacks, settings):
    # Warm caches throughout, however slow the machine: their expiry is tested on its own.
    settings.HITL_POLICY_MAX_AGE = settings.HITL_AUTH_CACHE_SECONDS = 600
    with django_capture_on_commit_callbacks(execute=True):  # the first submit teaches the caches
        api.post("/api/v1/actions", submit_body(), format="json")
    counts = []
    for i in range(3):
        with CaptureQueriesContext(connection) as plain:
            assert api.post("/api/v1/actions", submit_body(summary=f"s{i}"), format="json").status_code == 201
        with CaptureQueriesContext(connection) as keyed:
            response = api.post(
                "/api/v1/actions", submit_body(summary=f"k{i}"), format="json", HTTP_IDEMPOTENCY_KEY=f"k{i}"
            )
            assert response.status_code == 201
        counts.append((statements(plain), statements(keyed)))
    # One statement inserts the action and its audit event: the token and the action types are
    # cached after the first request. An Idempotency-Key adds one autocommitted INSERT.
    assert counts == [(1, 2)] * 3


def test_get_returns_the_current_state(api, submitted):
    action = submitted()
    response = api.get(f"/api/v1/actions/{action['id']}")
    assert response.status_code == 200
    assert response.json()["id"] == action["id"]
    assert response.json()["status"] == "pending"


def test_another_agents_action_is_not_found(api, submitted, db):
    from hitl.services import agent_create

    action = submitted()
    _, other_token = agent_create(name="other-bot")
    other = bearer_client(other_token)
    for method, path in [
        ("get", f"/api/v1/actions/{action['id']}"),
        ("post", f"/api/v1/actions/{action['id']}/cancel"),
        ("post", f"/api/v1/actions/{action['id']}/outcome"),
    ]:
        response = (
            getattr(other, method)(path, {"outcome": "executed"}, format="json")
            if method == "post"
            else other.get(path)
        )
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    assert api.get(f"/api/v1/actions/{uuid.uuid4()}").status_code == 404
    assert Action.objects.get(pk=action["id"]).status == "pending"


def test_cancel_withdraws_a_pending_action_once(api, submitted):
    action = submitted()
    response = api.post(f"/api/v1/actions/{action['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["version"] == 2
    again = api.post(f"/api/v1/actions/{action['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["status"] == "cancelled"
    assert list(AuditEvent.objects.filter(action_id=action["id"]).values_list("event_type", flat=True)) == [
        "submitted",
        "cancelled",
    ]


def test_outcome_only_for_approved_actions_and_only_once(api, submitted, reviewer_api):
    action = submitted()
    early = api.post(f"/api/v1/actions/{action['id']}/outcome", {"outcome": "executed"}, format="json")
    assert early.status_code == 409 and early.json()["error"] == "not_approved"

    assert (
        reviewer_api.post(
            f"/api/v1/actions/{action['id']}/decision", {"decision": "approve"}, format="json"
        ).status_code
        == 200
    )
    response = api.post(
        f"/api/v1/actions/{action['id']}/outcome",
        {"outcome": "executed", "detail": {"message_id": "m-1"}},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["outcome"]["outcome"] == "executed"
    assert response.json()["outcome"]["detail"] == {"message_id": "m-1"}
    again = api.post(f"/api/v1/actions/{action['id']}/outcome", {"outcome": "failed"}, format="json")
    assert again.status_code == 409 and again.json()["error"] == "outcome_already_reported"
    assert AuditEvent.objects.filter(action_id=action["id"], event_type="outcome_reported").count() == 1


def test_every_response_carries_a_request_id(api, submitted):
    response = api.get(f"/api/v1/actions/{submitted()['id']}")
    assert len(response["X-Request-ID"]) == 32


def test_api_answers_arrive_rendered_with_drfs_status_headers_and_body(api, submitted):
    """API views render their DRF response themselves: Django gets a plain response with nothing
    left to render, which under ASGI saves a trip to a worker thread per request."""
    created = api.post("/api/v1/actions", submit_body(), format="json", HTTP_X_REQUEST_ID="req-9")
    assert not hasattr(created, "render")
    assert created.status_code == 201 and created["Content-Type"] == "application/json"
    assert created["X-Request-ID"] == "req-9" and created.json()["status"] == "pending"

    wrong_method = api.put("/api/v1/actions", submit_body(), format="json")
    assert wrong_method.status_code == 405 and not hasattr(wrong_method, "render")
    assert set(wrong_method["Allow"].split(", ")) == {"POST", "OPTIONS"}
    assert wrong_method.json()["error"] == "method_not_allowed"

    polled = api.get(f"/api/v1/actions/{submitted()['id']}?wait=0")  # the async long-poll view
    assert polled.status_code == 200 and not hasattr(polled, "render") and polled.json()["status"] == "pending"
