"""The per-process caches that keep submits free of lookups stay truthful."""

import time

from hitl.models import ActionType, ApiToken
from hitl.services import token_revoke
from tests.conftest import submit_body


def test_a_token_revoked_through_the_service_is_refused_at_once(api, agent):
    assert api.post("/api/v1/actions", submit_body(), format="json").status_code == 201  # now cached
    token_revoke(token=ApiToken.objects.get(agent=agent))
    response = api.post("/api/v1/actions", submit_body(), format="json")
    assert response.status_code == 401


def test_a_token_revoked_elsewhere_is_refused_within_the_cache_time(api, agent, settings):
    settings.HITL_AUTH_CACHE_SECONDS = 0.3
    assert api.post("/api/v1/actions", submit_body(), format="json").status_code == 201
    ApiToken.objects.filter(agent=agent).update(revoked_at="2026-01-01T00:00:00Z")  # another process did it
    time.sleep(0.4)
    assert api.post("/api/v1/actions", submit_body(), format="json").status_code == 401


def test_an_action_type_change_reaches_the_next_submit_without_a_restart(api, email_type, settings):
    settings.HITL_POLICY_MAX_AGE = 0.3
    first = api.post("/api/v1/actions", submit_body(), format="json")
    assert first.json()["route"]["threshold"] == 0.85
    ActionType.objects.filter(pk=email_type.pk).update(threshold=0.6)  # as another process would save it
    time.sleep(0.4)
    assert api.post("/api/v1/actions", submit_body(), format="json").json()["route"]["threshold"] == 0.6


def test_saving_an_action_type_here_takes_effect_at_once(api, email_type):
    assert api.post("/api/v1/actions", submit_body(), format="json").status_code == 201
    email_type.is_active = False
    email_type.save()
    response = api.post("/api/v1/actions", submit_body(), format="json")
    assert response.status_code == 400 and "action_type" in response.json()["fields"]


def test_bearer_calls_skip_the_session_but_browsers_keep_it(api, client, submitted, django_user_model):
    action = submitted()
    agent_response = api.get(f"/api/v1/actions/{action['id']}")
    assert "sessionid" not in agent_response.cookies and "Cookie" not in agent_response.get("Vary", "")

    user = django_user_model.objects.create_user("sam", password="pw-sam-12345")
    login = client.post("/accounts/login/", {"username": "sam", "password": "pw-sam-12345"})
    assert login.status_code == 302 and "sessionid" in login.cookies
    assert client.get("/activity/").status_code == 200  # the session carries the login
    assert user.is_authenticated
