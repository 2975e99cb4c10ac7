"""Login throttling (pages and HTTP Basic, per account and per address, lockouts audited and lifted
by time or by an admin) and the API's rate limits (per token, per address), at their defaults."""

import base64
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from audit.export import auditors_group
from audit.models import AuditEvent
from hitl.services import agent_create
from tests.conftest import bearer_client, submit_body
from tests.factories import UserFactory

Type = AuditEvent.Type
PASSWORD = "pw-for-tests"  # tests.factories.UserFactory's
AUDIT_API = "/api/v1/audit/events"


@pytest.fixture(autouse=True)
def api_rate_limits_raised():
    """The settings' own limits here, not the ones the rest of the suite raises (tests/conftest.py)."""


def log_in(client: Client, username: str, password: str, path: str = "/accounts/login/", **headers):
    return client.post(path, {"username": username, "password": password}, **headers)


def logged_in(client: Client) -> bool:
    return client.get("/reviews/").status_code != 302  # the queue sends anonymous visitors to the login page


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def events(event_type) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("id"))


@pytest.fixture
def tina(db):
    return UserFactory(username="tina")


# Logins.


def test_the_defaults():
    assert (settings.HITL_LOGIN_FAILURES_PER_ACCOUNT, settings.HITL_LOGIN_FAILURES_PER_ADDRESS) == (5, 20)
    assert settings.HITL_LOGIN_FAILURE_WINDOW == settings.HITL_LOGIN_LOCKOUT == timedelta(minutes=15)
    assert (settings.HITL_API_RATE_PER_TOKEN, settings.HITL_API_RATE_PER_ADDRESS) == ("1200/minute", "300/minute")


def test_wrong_passwords_lock_the_account_out_and_then_the_right_one_is_refused_too(tina):
    browser = Client()
    answers = [log_in(browser, "tina", f"guess-{n}").status_code for n in range(30)]
    assert answers[:4] == [200] * 4  # the form again, saying the password is wrong
    assert set(answers[4:]) == {429}  # the fifth failure locks the account out

    response = log_in(browser, "tina", PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Logging in is paused" in page and "An administrator can lift the lockout sooner" in page
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert not logged_in(browser)
    assert log_in(Client(), "Tina ", PASSWORD).status_code == 429  # the username as typed, case-folded

    [locked] = events(Type.LOGIN_LOCKED)  # once, not once per refused attempt
    assert (locked.actor_type, locked.actor_label) == ("system", "system")
    assert {key: locked.data[key] for key in ("scope", "username", "address", "failures")} == {
        "scope": "account", "username": "tina", "address": "127.0.0.1", "failures": 5,
    }  # fmt: skip


def test_admins_login_page_is_locked_out_the_same_way(db):
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    browser = Client()
    for n in range(5):
        log_in(browser, "root", f"guess-{n}", path="/admin/login/")
    assert log_in(browser, "root", PASSWORD, path="/admin/login/").status_code == 429
    assert browser.get("/admin/").status_code == 302  # still not in


def test_http_basic_on_the_audit_export_is_locked_out_with_a_json_429(db):
    audrey = UserFactory(username="audrey")
    audrey.groups.add(auditors_group())
    api = APIClient()
    answers = [api.get(AUDIT_API, HTTP_AUTHORIZATION=basic("audrey", f"guess-{n}")).status_code for n in range(30)]
    assert answers[:4] == [401] * 4 and set(answers[4:]) == {429}

    response = api.get(AUDIT_API, HTTP_AUTHORIZATION=basic("audrey", PASSWORD))
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "login_locked" and "Too many failed logins" in body["message"]
    assert body["retry_after"] == int(response["Retry-After"]) and 0 < body["retry_after"] <= 15 * 60
    assert events(Type.AUDIT_EXPORTED) == []  # nothing was exported
    assert len(events(Type.LOGIN_LOCKED)) == 1


def test_failures_from_one_address_lock_it_out_for_every_account_and_x_forwarded_for_does_not_help(tina):
    attacker = Client(REMOTE_ADDR="203.0.113.20")
    for n in range(20):  # one guess at each of twenty accounts, each claiming to come from elsewhere
        log_in(attacker, f"user{n}", "password1", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    assert log_in(attacker, "tina", PASSWORD).status_code == 429
    elsewhere = Client(REMOTE_ADDR="203.0.113.21")
    assert log_in(elsewhere, "tina", PASSWORD).status_code == 302 and logged_in(elsewhere)

    [locked] = events(Type.LOGIN_LOCKED)
    assert {key: locked.data[key] for key in ("scope", "address", "failures")} == {
        "scope": "address", "address": "203.0.113.20", "failures": 20,
    }  # fmt: skip


def test_a_right_password_forgets_the_accounts_failures(tina):
    browser = Client()
    for _ in range(2):
        for n in range(4):
            assert log_in(browser, "tina", f"guess-{n}").status_code == 200
        assert log_in(browser, "tina", PASSWORD).status_code == 302
        browser.post("/accounts/logout/")
    assert events(Type.LOGIN_LOCKED) == []


def test_a_lockout_ends_by_itself(tina, settings):
    settings.HITL_LOGIN_LOCKOUT = timedelta(seconds=2)
    browser = Client()
    for n in range(5):
        log_in(browser, "tina", f"guess-{n}")
    assert log_in(browser, "tina", PASSWORD).status_code == 429
    time.sleep(2.2)
    assert log_in(browser, "tina", PASSWORD).status_code == 302 and logged_in(browser)


def test_an_admin_lifts_a_lockout_in_admin_and_it_is_audited(tina):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    for n in range(5):
        log_in(Client(), "tina", f"guess-{n}")
    admin = Client()
    admin.force_login(root)
    listing = admin.get("/admin/hitl/loginlockout/")
    assert listing.status_code == 200 and "tina" in listing.content.decode()
    lockout_id = listing.context["cl"].result_list[0].pk
    lifted = admin.post("/admin/hitl/loginlockout/", {"action": "lift", "_selected_action": [lockout_id]}, follow=True)
    assert "Lifted 1 lockout(s)" in lifted.content.decode()

    browser = Client()
    assert log_in(browser, "tina", PASSWORD).status_code == 302 and logged_in(browser)
    [unlocked] = events(Type.LOGIN_UNLOCKED)
    assert (unlocked.actor_type, unlocked.actor_label) == ("admin", "root")
    assert (unlocked.data["scope"], unlocked.data["username"]) == ("account", "tina")


# The API's rate limits.


def rate(setting: str) -> int:
    calls, _, period = getattr(settings, setting).partition("/")
    assert period == "minute"
    return int(calls)


def fresh_window(needed: float = 20) -> None:
    """Start in a window (a clock minute) with `needed` seconds left, so that it ends within no test."""
    left = 60 - time.time() % 60
    if left < needed:
        time.sleep(left + 0.05)


def flood(client, limit: int, **extra):
    """Call until the first 429, or limit + 1 times; the answers' statuses and the last answer."""
    statuses = []
    for _ in range(limit + 1):
        response = client.post("/api/v1/actions/preview", {}, format="json", **extra)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    return statuses, response


def test_one_agent_flooding_gets_429_with_retry_after_and_another_agent_is_still_served(email_type):
    first, second = (bearer_client(agent_create(name=name)[1]) for name in ("flooder", "quiet-bot"))
    limit = rate("HITL_API_RATE_PER_TOKEN")
    fresh_window()
    statuses, throttled = flood(first, limit)
    assert statuses == [400] * limit + [429]  # every call counts, a refused body too
    body = throttled.json()
    assert body["error"] == "throttled" and body["message"]
    assert body["retry_after"] == int(throttled["Retry-After"]) and 1 <= body["retry_after"] <= 60

    submitted = second.post("/api/v1/actions", submit_body(), format="json")  # same address, own budget
    assert submitted.status_code == 201, submitted.content
    assert second.get(f"/api/v1/actions/{submitted.json()['id']}").status_code == 200
    assert first.get(f"/api/v1/actions/{submitted.json()['id']}").status_code == 429  # the async view too
    assert first.post("/api/v1/actions", submit_body(), format="json").status_code == 429


def test_calls_without_valid_credentials_are_limited_per_address(email_type):
    limit = rate("HITL_API_RATE_PER_ADDRESS")
    guesser = bearer_client("not-a-token")
    guesser.defaults["REMOTE_ADDR"] = "203.0.113.30"
    fresh_window()
    statuses = [guesser.get("/api/v1/receipt-keys").status_code for _ in range(limit // 2)]
    for _ in range(limit):
        statuses.append(guesser.post("/api/v1/actions", {}, format="json").status_code)
        if statuses[-1] == 429:
            break
    assert statuses == [200] * (limit // 2) + [401] * (limit - limit // 2) + [429]
    response = guesser.post("/api/v1/actions", {}, format="json")
    assert response.status_code == 429 and response.json()["error"] == "throttled" and response["Retry-After"]

    anonymous_elsewhere = APIClient(REMOTE_ADDR="203.0.113.31")
    assert anonymous_elsewhere.post("/api/v1/actions", {}, format="json").status_code == 401
    agent = bearer_client(agent_create(name="same-address-bot")[1])
    agent.defaults["REMOTE_ADDR"] = "203.0.113.30"  # an agent's token has its own budget there
    assert agent.post("/api/v1/actions", submit_body(), format="json").status_code == 201
