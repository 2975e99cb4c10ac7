import socket

import pytest
from rest_framework.test import APIClient

from hitl.policy import policy_invalidate
from hitl.selectors import novelty_forget, token_forget
from hitl.services import agent_create, token_issue

from .factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory


@pytest.fixture(autouse=True)
def fresh_caches():
    """Each test starts from the database, not a policy or token cached by an earlier test."""
    policy_invalidate()
    token_forget()
    novelty_forget()


@pytest.fixture
def own_routes_only(db):
    """For tests that set their own notification routes: without the defaults a fresh database has
    (escalation migration 0004: in-app toasts for the tier groups)."""
    from escalation.models import NotificationRoute

    NotificationRoute.objects.all().delete()


def submit_body(**overrides):
    body = {
        "action_type": "send_email",
        "payload": {"to": "jane@example.com", "subject": "Your refund", "body": "It is on its way."},
        "summary": "Email Jane confirming her $40 refund",
        "reasoning": "User asked for a refund; order 881 is eligible under policy 4.2",
        "context": {"user_request": "refund please", "documents": [], "conversation": [], "tool_calls": []},
        "confidence": 0.82,
        "blast_radius": 1,
        "entity": {"id": "cust_42", "tags": ["vip"]},
        "task_id": "ticket-881",
        "callback_url": "https://agent.example.com/hitl/callback",
    }
    body.update(overrides)
    return body


def page_form(action) -> dict:
    """The hidden fields an action page's decision form carries: the version and the SHA-256 of the
    payload it shows."""
    from hitl.models import Action
    from reviews.selectors import approvals_of, verdicts_of

    current = Action.objects.get(pk=action.pk)
    return {"version": current.version, "payload_sha256": approvals_of(current, verdicts_of(current)).sha256}


def free_port() -> int:
    """A loopback port nothing listens on, for servers the tests start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bearer_client(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def email_type(db):
    return ActionTypeFactory()


@pytest.fixture
def agent_and_token(db):
    return agent_create(name="support-bot")


@pytest.fixture
def agent(agent_and_token):
    return agent_and_token[0]


@pytest.fixture
def api(agent_and_token, email_type):
    return bearer_client(agent_and_token[1])


@pytest.fixture
def team_reviewer(db):
    group = ReviewerGroupFactory(key="team", rank=1)
    user = UserFactory(username="tina")
    group.members.add(user)
    return user


@pytest.fixture
def reviewer_api(team_reviewer):
    return bearer_client(token_issue(user=team_reviewer, label="tests"))


@pytest.fixture
def submitted(api):
    """Submit one action through the API; returns its JSON."""

    def submit(**overrides):
        response = api.post("/api/v1/actions", submit_body(**overrides), format="json")
        assert response.status_code == 201, response.content
        return response.json()

    return submit
