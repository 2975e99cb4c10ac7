"""The defaults an operator gets: a Content-Security-Policy on every response, sessions that end
after 8 idle hours, forwarded headers believed only from the configured proxies, and
`check --deploy` clean with the production settings."""

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from tests.conftest import database_url, free_port
from tests.factories import UserFactory
from tests.hitl.test_production import manage, production_env

ROOT = Path(__file__).resolve().parents[2]
EIGHT_HOURS = 8 * 3600


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/admin/login/", "/nothing-here/", "/api/v1/receipt-keys", "/api/docs/", "/healthz"]
)
def test_every_response_carries_a_content_security_policy_that_allows_no_inline_code(db, path):
    csp = policy(Client().get(path))
    for directive in ("script-src", "style-src"):
        assert csp[directive] == ["'self'"], (directive, csp)
    assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]


def test_the_api_docs_start_up_script_is_a_file_not_inline(db):
    page = Client().get("/api/docs/").content.decode()
    assert "<style" not in page and "<script>" not in page
    assert Client().get("/api/docs/?script=").status_code == 200


def test_a_session_ends_after_eight_idle_hours_and_every_request_renews_it(db):
    UserFactory(username="tina")
    browser = Client()
    logged_in = browser.post("/accounts/login/", {"username": "tina", "password": "pw-for-tests"})
    assert logged_in.status_code == 302
    assert logged_in.cookies["sessionid"]["max-age"] == EIGHT_HOURS
    session = Session.objects.get()
    assert abs(session.expire_date - (timezone.now() + timedelta(hours=8))) < timedelta(minutes=1)

    # Seven idle hours later (the session has one hour left), a request renews it for eight more.
    Session.objects.update(expire_date=timezone.now() + timedelta(hours=1))
    response = browser.get("/activity/")
    assert response.status_code != 302 and response.cookies["sessionid"]["max-age"] == EIGHT_HOURS
    assert Session.objects.get().expire_date > timezone.now() + timedelta(hours=7, minutes=59)

    # Eight idle hours later, the session is over: back to the login page.
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = browser.get("/activity/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_idle_time_is_set_by_the_environment():
    printed = manage(
        production_env(HITL_SESSION_IDLE_HOURS="0.5"),
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SESSION_COOKIE_AGE, settings.SESSION_SAVE_EVERY_REQUEST)",
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[-1].split() == ["1800", "True"]


def test_check_deploy_is_clean_and_warns_when_every_address_is_trusted_as_a_proxy():
    clean = manage(production_env(HITL_TRUSTED_PROXIES="10.0.0.0/8"), "check", "--deploy", "--fail-level", "WARNING")
    assert clean.returncode == 0 and "no issues" in clean.stdout, clean.stdout + clean.stderr
    trusting = manage(production_env(HITL_TRUSTED_PROXIES="*"), "check", "--deploy", "--fail-level", "WARNING")
    assert trusting.returncode != 0 and "hitl.W002" in trusting.stdout + trusting.stderr


@contextmanager
def web_role(**environment):
    """The image's `web` role (deploy/entrypoint.sh) with the production settings, on a free port."""
    port = free_port()
    env = production_env(
        PORT=str(port),
        WEB_CONCURRENCY="1",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",  # so that a request over plain HTTP is answered, and shows what it was taken for
        DATABASE_URL=database_url(),
        CHANNEL_PREFIX=f"hitl-test-{uuid.uuid4().hex}",  # its own rate-limit counters
        HITL_API_RATE_PER_ADDRESS="2/minute",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **environment,
    )
    if "HITL_TRUSTED_PROXIES" not in environment:
        env.pop("HITL_TRUSTED_PROXIES", None)
    server = subprocess.Popen(
        [str(ROOT / "deploy" / "entrypoint.sh"), "web"], cwd=ROOT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(f"{url}/healthz")
                break
            except httpx.HTTPError:
                assert server.poll() is None, "the web role exited"
                time.sleep(0.1)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def from_behind_a_proxy(url: str, n: int) -> httpx.Response:
    """A call claiming (X-Forwarded-*) to come from client 198.51.100.n over HTTPS."""
    headers = {"X-Forwarded-For": f"198.51.100.{n}", "X-Forwarded-Proto": "https"}
    return httpx.get(f"{url}/api/v1/receipt-keys", headers=headers)


def test_forwarded_headers_are_believed_from_no_one_by_default(db):
    with web_role() as url:
        answers = [from_behind_a_proxy(url, n) for n in range(3)]
    # Not taken for HTTPS (no HSTS), and the three "clients" are one address: its third call is over the limit.
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert not any("Strict-Transport-Security" in a.headers for a in answers)


def test_forwarded_headers_are_believed_from_the_trusted_proxies(db):
    with web_role(HITL_TRUSTED_PROXIES="127.0.0.1,10.0.0.0/8") as url:
        answers = [from_behind_a_proxy(url, n) for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]  # three clients, one call each
    assert all("Strict-Transport-Security" in a.headers for a in answers)  # taken for HTTPS, as the proxy says
