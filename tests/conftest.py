import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from rest_framework.test import APIClient

from hitl.policy import policy_invalidate
from hitl.selectors import novelty_forget, token_forget
from hitl.services import agent_create, token_issue

from .factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items):
    """Transactional tests keep what the migrations create (the tier groups and policies, the
    routing settings, the default notification routes, the auditors group): Django serializes the
    test database once it is migrated and restores that after each test's flush."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if "transactional_db" in item.fixturenames or (marker is not None and marker.kwargs.get("transaction")):
            item.add_marker(pytest.mark.django_db(transaction=True, serialized_rollback=True), append=False)


@pytest.fixture(scope="session", autouse=True)
def serialized_defaults(django_db_setup):
    """What Django serialized of the migrated test database, for every connection object: Django
    keeps it on the first one, but connections are per thread and per event-loop context, and
    Playwright's sync API runs a loop in the tests' thread, where another connection object would
    find nothing to restore."""
    from django.db import connections

    first = connections["default"]
    contents = getattr(first, "_test_serialized_contents", None)
    if contents is not None:
        type(first)._test_serialized_contents = contents


@pytest.fixture(autouse=True)
def fresh_caches():
    """Each test starts from the database, not a policy or token cached by an earlier test."""
    policy_invalidate()
    token_forget()
    novelty_forget()


@pytest.fixture(autouse=True)
def api_rate_limits_raised(settings):
    """Every client of the suite calls from 127.0.0.1, some thousands of times a minute: the API's
    rate limits are out of their way. tests/hitl/test_throttling.py overrides this fixture, to test
    the defaults."""
    settings.HITL_API_RATE_PER_TOKEN = settings.HITL_API_RATE_PER_ADDRESS = "100000000/minute"


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


def database_url() -> str:
    """The test database as a DATABASE_URL, for the servers and workers the tests start (its host
    may be the embedded PostgreSQL's socket directory)."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    where = quote(db["HOST"], safe="") if db["HOST"].startswith("/") else f"{db['HOST']}:{db['PORT']}"
    return f"postgres://{db['USER']}@{where}/{db['NAME']}"


def free_port() -> int:
    """A loopback port nothing listens on, for servers the tests start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server_url(transactional_db):
    """uvicorn serving the app against this test's database (committed data is visible to it)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hitl.settings.test", "DATABASE_URL": database_url()}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "hitl.asgi:application", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{url}/healthz")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


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
