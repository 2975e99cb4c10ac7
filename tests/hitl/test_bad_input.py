"""Every bad input is a 4xx JSON body naming the field and the problem, and creates nothing."""

import json

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from hitl.models import Action, ApiToken, IdempotencyKey
from tests.conftest import bearer_client, submit_body
from tests.factories import ActionTypeFactory


def without(field):
    body = submit_body()
    del body[field]
    return body


BAD_BODIES = [
    ("missing action_type", without("action_type"), "action_type", "required"),
    ("missing payload", without("payload"), "payload", "required"),
    ("missing summary", without("summary"), "summary", "required"),
    ("missing confidence", without("confidence"), "confidence", "required"),
    ("confidence as a string", submit_body(confidence="0.9"), "confidence", "valid number"),
    ("confidence as a boolean", submit_body(confidence=True), "confidence", "valid number"),
    ("confidence below 0", submit_body(confidence=-0.01), "confidence", "greater than or equal to 0"),
    ("confidence above 1", submit_body(confidence=1.5), "confidence", "less than or equal to 1"),
    ("negative blast_radius", submit_body(blast_radius=-3), "blast_radius", "greater than or equal to 0"),
    ("fractional blast_radius", submit_body(blast_radius=2.5), "blast_radius", "valid integer"),
    ("blast_radius as a string", submit_body(blast_radius="10"), "blast_radius", "valid integer"),
    ("irreversible as a string", submit_body(irreversible="yes"), "irreversible", "true or false"),
    ("compliance_risk as a number", submit_body(compliance_risk=1), "compliance_risk", "true or false"),
    ("summary not a string", submit_body(summary=42), "summary", "string"),
    ("summary over 500 characters", submit_body(summary="x" * 501), "summary", "500"),
    ("payload is a list", submit_body(payload=[1, 2]), "payload", "JSON object"),
    ("payload is a string", submit_body(payload="send it"), "payload", "JSON object"),
    ("context is a list", submit_body(context=["a"]), "context", "JSON object"),
    ("entity tags not a list", submit_body(entity={"id": "c1", "tags": "vip"}), "entity", "list"),
    ("callback_url not a URL", submit_body(callback_url="not a url"), "callback_url", "valid URL"),
    ("callback_url with another scheme", submit_body(callback_url="ftp://agent.example.com/cb"), "callback_url", "URL"),
    ("unknown top-level field", submit_body(confidance=0.9), "confidance", "Unknown field"),
    ("payload fails the schema", submit_body(payload={"to": "not-an-email", "subject": "hi"}), "payload", "$.to"),
    (
        "payload misses a required key",
        submit_body(payload={"to": "a@example.com"}),
        "payload",
        "'subject' is a required",
    ),
    ("entity is false", submit_body(entity=False), "entity", "JSON object"),
    ("entity is a string", submit_body(entity="cust_42"), "entity", "JSON object"),
    ("blast_radius beyond what is stored", submit_body(blast_radius=2**31), "blast_radius", "less than or equal"),
    (
        "NUL in a payload string",
        submit_body(payload={"to": "a@example.com", "subject": "a\x00b"}),
        "payload",
        "$.subject: Null characters are not allowed",
    ),
    ("NUL in a context key", submit_body(context={"k\x00": 1}), "context", "$: a key: Null characters"),
]


@pytest.mark.parametrize("label,body,field,words", BAD_BODIES, ids=[case[0] for case in BAD_BODIES])
def test_bad_body_is_400_naming_the_field(api, label, body, field, words):
    response = api.post("/api/v1/actions", body, format="json")

    assert response.status_code == 400, response.content
    error = response.json()
    assert error["error"] == "invalid_request"
    assert field in error["fields"], error
    assert any(words in message for message in error["fields"][field]), error
    assert field in error["message"]
    assert not Action.objects.exists() and not AuditEvent.objects.filter(event_type="submitted").exists()


def test_schema_errors_name_the_schema_path(api):
    response = api.post("/api/v1/actions", submit_body(payload={"to": "a@example.com", "subject": 5}), format="json")
    assert response.status_code == 400
    [message] = response.json()["fields"]["payload"]
    assert message.startswith("$.subject:") and "(schema: properties/subject/type)" in message


def test_unknown_action_type_names_the_known_ones(api):
    ActionTypeFactory(key="issue_refund", payload_schema=None)
    response = api.post("/api/v1/actions", submit_body(action_type="launch_rocket"), format="json")
    assert response.status_code == 400
    [message] = response.json()["fields"]["action_type"]
    assert "launch_rocket" in message and "issue_refund" in message and "send_email" in message
    assert not Action.objects.exists()


def test_inactive_action_type_is_unknown(api, email_type):
    email_type.is_active = False
    email_type.save()
    assert api.post("/api/v1/actions", submit_body(), format="json").status_code == 400


def post_raw(client, data, content_type="application/json", **extra):
    return client.generic("POST", "/api/v1/actions", data, content_type=content_type, **extra)


def test_malformed_json_is_400(api):
    response = post_raw(api, b'{"action_type": "send_email", ')
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"
    assert "body" in response.json()["fields"]
    assert not Action.objects.exists()


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"42", b"null"])
def test_body_that_is_not_an_object_is_400(api, raw):
    response = post_raw(api, raw)
    assert response.status_code == 400
    assert "body" in response.json()["fields"]
    assert not Action.objects.exists()


def test_lone_surrogate_in_a_json_field_is_400(api):
    raw = json.dumps(submit_body(context={"notes": ["fine", "half a pair: \ud83d"]})).encode()
    response = post_raw(api, raw)
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["context"] == ["$.notes[1]: Surrogate characters are not allowed: U+D83D."]
    assert not Action.objects.exists()


def test_a_body_nested_deeper_than_python_parses_is_400_naming_the_limit(api):
    response = post_raw(api, b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "more than 32 levels deep" in response.json()["fields"]["body"][0]


def test_an_outcome_detail_that_cannot_be_stored_is_400(api, submitted):
    action = submitted()
    bad = {"outcome": "executed", "detail": {"log": "a\x00b"}}
    response = api.post(f"/api/v1/actions/{action['id']}/outcome", bad, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"detail": ["$.log: Null characters are not allowed."]}
    assert Action.objects.get(pk=action["id"]).outcome == ""


def test_body_over_256_kib_is_413(api):
    raw = json.dumps(submit_body(reasoning="x" * (256 * 1024))).encode()
    response = post_raw(api, raw)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert "body" in response.json()["fields"]
    assert not Action.objects.exists()


def test_a_body_just_under_the_limit_is_accepted_as_far_as_size_goes(api):
    raw = json.dumps(submit_body(context={"documents": ["y" * 200_000]})).encode()
    assert len(raw) < 256 * 1024
    assert post_raw(api, raw).status_code == 201


def test_wrong_content_type_is_415(api):
    response = post_raw(api, b"action_type=send_email", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert not Action.objects.exists()


@pytest.mark.parametrize("header", [None, "Bearer", "Token abc", "Bearer not-a-real-token", "Basic dXNlcjpwdw=="])
def test_missing_or_wrong_token_is_401(db, email_type, header):
    from rest_framework.test import APIClient

    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post("/api/v1/actions", submit_body(), format="json")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Action.objects.exists()


def test_revoked_token_is_401(api, agent):
    ApiToken.objects.filter(agent=agent).update(revoked_at=timezone.now())
    assert api.post("/api/v1/actions", submit_body(), format="json").status_code == 401
    assert not Action.objects.exists()


def test_inactive_agent_is_401(api, agent):
    agent.is_active = False
    agent.save()
    assert api.post("/api/v1/actions", submit_body(), format="json").status_code == 401


def test_reviewer_token_cannot_submit(reviewer_api, email_type):
    response = reviewer_api.post("/api/v1/actions", submit_body(), format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert not Action.objects.exists()


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "tab\tkey"])
def test_invalid_idempotency_key_is_400(api, key):
    response = api.post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]
    assert not Action.objects.exists() and not IdempotencyKey.objects.exists()


@pytest.mark.parametrize("wait", ["abc", "-1", "61", "1.5"])
def test_bad_wait_is_400(api, submitted, wait):
    action = submitted()
    response = api.get(f"/api/v1/actions/{action['id']}?wait={wait}")
    assert response.status_code == 400
    assert "wait" in response.json()["fields"]


def test_bad_outcome_is_400(api, submitted):
    action = submitted()
    response = api.post(f"/api/v1/actions/{action['id']}/outcome", {"outcome": "maybe"}, format="json")
    assert response.status_code == 400
    assert "outcome" in response.json()["fields"]


def test_a_non_uuid_action_id_is_a_json_404(api):
    response = api.get("/api/v1/actions/12345")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_other_agents_token_never_sees_the_action(api, submitted):
    from hitl.services import agent_create

    action = submitted()
    _, token = agent_create(name="nosy")
    assert bearer_client(token).get(f"/api/v1/actions/{action['id']}?wait=1").status_code == 404
