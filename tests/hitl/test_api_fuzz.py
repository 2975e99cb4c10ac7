"""Schemathesis fuzzes the API from its own OpenAPI schema, as an agent and as a reviewer: no input
is answered with a 5xx, and every answer is one the schema declares (status, content type, body)."""

import uuid

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from demo import data as demo
from hitl.models import ActionType
from hitl.services import action_cancel, action_create, action_prepare, agent_create, token_issue
from reviews.models import ReviewerGroup
from tests.factories import UserFactory

# Deterministic, so that CI runs the same cases every time. Submit and preview get more examples
# (their bodies are the largest input), and often the schemaless `note` type and a usable
# callback URL, so that generated bodies get past those two into routing and storage.
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": 40, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "operations": [
            {"include-operation-id": ["actions_submit", "actions_preview"], "generation": {"max-examples": 100}}
        ],
        "dictionaries": {
            "action-types": {"values": ["note"]},
            "callback-urls": {"values": ["", "https://agent.example.com/hitl/callback"]},
        },
        "parameters": {
            "body.action_type": {"dictionary": "action-types", "probability": 0.7},
            "body.callback_url": {"dictionary": "callback-urls", "probability": 0.7},
        },
    }
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# The fixture's actions, with ids that generated requests can name.
PENDING, CANCELLED, APPROVED = (uuid.UUID(int=n) for n in (1, 2, 3))


@pytest.fixture
def world(transactional_db):
    """The demo's action types and reviewer groups, `note` (a type without a payload schema), an
    agent with a pending, a cancelled and an approved action, and a reviewer in `team` (who may
    decide the pending one). Returns the agent's and the reviewer's tokens.

    Transactional: the requests go through the WSGI handler, which closes the connection that a
    test transaction would hold."""
    for fields in demo.ACTION_TYPES:
        ActionType.objects.create(**fields)
    note = ActionType.objects.create(key="note", name="Note", domain="notes", irreversible=False, payload_schema=None)
    for fields in demo.GROUPS:
        ReviewerGroup.objects.update_or_create(key=fields["key"], defaults=fields)
    reviewer = UserFactory(username="tina")
    ReviewerGroup.objects.get(key="team").members.add(reviewer)
    agent, agent_token = agent_create(name="fuzz-bot")
    email = ActionType.objects.get(key="send_email")
    payload = {"to": "jane@example.com", "subject": "Hello", "body": "Hi Jane."}

    def submit(action_type, confidence, action_id=None):
        action = action_prepare(
            agent=agent, action_type=action_type, payload=payload, summary="Fuzz", confidence=confidence
        )
        action.id = action_id or action.id
        action_create(action=action)

    submit(note, 0.99)  # the agent's first `note` waits for a reviewer; the next is approved by policy
    submit(note, 0.99, APPROVED)
    submit(email, 0.9, PENDING)
    submit(email, 0.9, CANCELLED)
    action_cancel(agent=agent, action_id=CANCELLED)
    return {"agent": agent_token, "reviewer": token_issue(user=reviewer, label="fuzz")}


schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), config=CONFIG)


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Mostly the id of one of the fixture's actions; otherwise the generated one."""
    if "action_id" not in (path_parameters or {}):
        return st.just(path_parameters)
    existing = [{"action_id": str(action_id)} for action_id in (PENDING, CANCELLED, APPROVED)]
    return st.sampled_from([path_parameters, *existing])


@schema.hook
def map_query(context, query):
    """No long-poll holds (test_long_poll.py tests them): here they would only slow the run."""
    if query and isinstance(query.get("wait"), int) and 0 < query["wait"] <= 60:
        return {**query, "wait": 0}
    return query


FIXTURE_PER_OPERATION = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@schema.parametrize()
@FIXTURE_PER_OPERATION
def test_as_an_agent(case, world):
    case.call_and_validate(headers={"Authorization": f"Bearer {world['agent']}"}, checks=CHECKS)


@schema.parametrize()
@FIXTURE_PER_OPERATION
def test_as_a_reviewer(case, world):
    case.call_and_validate(headers={"Authorization": f"Bearer {world['reviewer']}"}, checks=CHECKS)
