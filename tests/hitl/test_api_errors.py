"""Every way a call to the API can go wrong answers JSON with `error` and `message`, DEBUG on or off."""

import json
import uuid
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from tests.conftest import bearer_client, submit_body


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def calls(request, settings, api, reviewer_api, team_reviewer, submitted):
    """The clients and actions the error paths need, with DEBUG off (production) and on."""
    settings.DEBUG = request.param
    cancelled = submitted()["id"]
    api.post(f"/api/v1/actions/{cancelled}/cancel")
    return SimpleNamespace(
        agent=api, reviewer=reviewer_api, user=team_reviewer, pending=submitted()["id"], cancelled=cancelled
    )


def post_raw(client, path, data: bytes, content_type="application/json"):
    return client.generic("POST", path, data, content_type=content_type)


def session_without_csrf(c):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(c.user)
    return client.post(f"/api/v1/actions/{c.pending}/decision", {"decision": "approve"}, format="json")


def reused_key(c):
    c.agent.post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    return c.agent.post("/api/v1/actions", submit_body(confidence=0.5), format="json", HTTP_IDEMPOTENCY_KEY="k-1")


ERRORS = [
    ("no token", 401, lambda c: APIClient().post("/api/v1/actions", submit_body(), format="json")),
    ("unknown token", 401, lambda c: bearer_client("not-a-token").get(f"/api/v1/actions/{c.pending}")),
    ("reviewer token, agent endpoint", 403, lambda c: c.reviewer.post(f"/api/v1/actions/{c.pending}/cancel")),
    (
        "agent token, decision",
        403,
        lambda c: c.agent.post(f"/api/v1/actions/{c.pending}/decision", {"decision": "approve"}, format="json"),
    ),
    ("session without CSRF token", 403, session_without_csrf),
    ("malformed id", 404, lambda c: c.agent.get("/api/v1/actions/123")),
    ("malformed id, cancel", 404, lambda c: c.agent.post("/api/v1/actions/123/cancel")),
    ("malformed id, decision", 404, lambda c: c.reviewer.post("/api/v1/actions/123/decision", {}, format="json")),
    ("unknown id", 404, lambda c: c.agent.get(f"/api/v1/actions/{uuid.uuid4()}")),
    (
        "unknown id, outcome",
        404,
        lambda c: c.agent.post(f"/api/v1/actions/{uuid.uuid4()}/outcome", {"outcome": "executed"}, format="json"),
    ),
    ("unknown path", 404, lambda c: c.agent.get("/api/v1/nothing")),
    ("unknown path, POST", 404, lambda c: c.agent.post("/api/v2/actions", submit_body(), format="json")),
    ("trailing slash", 404, lambda c: c.agent.post("/api/v1/actions/", submit_body(), format="json")),
    ("the API's root", 404, lambda c: c.agent.get("/api/")),
    ("wrong method", 405, lambda c: c.agent.get("/api/v1/actions")),
    ("wrong method on an action", 405, lambda c: c.agent.delete(f"/api/v1/actions/{c.pending}")),
    ("unacceptable Accept", 406, lambda c: c.agent.get(f"/api/v1/actions/{c.pending}", HTTP_ACCEPT="text/html")),
    ("malformed JSON", 400, lambda c: post_raw(c.agent, "/api/v1/actions", b'{"action_type": ')),
    ("body not an object", 400, lambda c: post_raw(c.agent, "/api/v1/actions/preview", b"[]")),
    ("bad field", 400, lambda c: c.agent.post("/api/v1/actions", submit_body(entity=False), format="json")),
    ("bad query parameter", 400, lambda c: c.agent.get(f"/api/v1/actions/{c.pending}?wait=61")),
    (
        "bad header",
        400,
        lambda c: c.agent.post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY="a b"),
    ),
    (
        "wrong content type",
        415,
        lambda c: post_raw(c.agent, "/api/v1/actions", b"a=1", "application/x-www-form-urlencoded"),
    ),
    (
        "body too large",
        413,
        lambda c: post_raw(c.agent, "/api/v1/actions", json.dumps(submit_body(reasoning="x" * 300_000)).encode()),
    ),
    ("cancel a cancelled action", 409, lambda c: c.agent.post(f"/api/v1/actions/{c.cancelled}/cancel")),
    (
        "outcome of a pending action",
        409,
        lambda c: c.agent.post(f"/api/v1/actions/{c.pending}/outcome", {"outcome": "executed"}, format="json"),
    ),
    ("Idempotency-Key reused with another body", 422, reused_key),
]


@pytest.mark.parametrize("label,status,call", ERRORS, ids=[case[0] for case in ERRORS])
def test_each_error_answers_json_with_error_and_message(calls, label, status, call):
    response = call(calls)

    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str) and body["message"]


def test_the_docs_addresses_without_a_slash_redirect(client):
    assert client.get("/api/docs")["Location"] == "/api/docs/"
    assert client.get("/api/schema?format=json")["Location"] == "/api/schema/?format=json"
    assert client.get("/api/docs/").status_code == 200
