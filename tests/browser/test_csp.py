"""Every page satisfies the Content-Security-Policy in Chromium: each role's pages, Django admin's,
the API docs, the login, lockout and error pages, with their scripts, htmx and live sockets
running. A violation shows as a `securitypolicyviolation` event in the page and a console message;
both are collected, and each page must have sent the policy (else nothing would be checked)."""

import uuid

import httpx
import pytest
from django.contrib.auth import get_user_model

from audit.export import auditors_group
from tests.conftest import submit_body
from tests.factories import ReviewerGroupFactory, UserFactory

from .conftest import PASSWORD
from .conftest import live as live_page

COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(
  `${e.violatedDirective} refused ${e.blockedURI || "inline code"} in ${e.sourceFile || "the page"}:${e.lineNumber}`));
"""


@pytest.fixture
def site(server_url, agent_and_token, email_type):
    """Reviewers, a lead, an auditor and an admin, and one action waiting in the team's queue."""
    tina = UserFactory(username="tina", password=PASSWORD)
    ReviewerGroupFactory(key="team", rank=1).members.add(tina)
    leo = UserFactory(username="leo", password=PASSWORD)
    ReviewerGroupFactory(key="lead", rank=2).members.add(leo)
    UserFactory(username="audrey", password=PASSWORD).groups.add(auditors_group())
    root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    response = httpx.post(
        f"{server_url}/api/v1/actions",
        json=submit_body(summary="Email Jane confirming her $40 refund"),
        headers={"Authorization": f"Bearer {agent_and_token[1]}"},
    )
    assert response.status_code == 201, response.text
    return {"action": response.json()["id"], "agent": agent_and_token[0], "type": email_type, "root": root}


class Visitor:
    """One person's browser, noting each page's CSP violations."""

    def __init__(self, browser, server_url):
        self.url = server_url
        self.context = browser.new_context()
        self.context.add_init_script(COLLECT_VIOLATIONS)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", self._console)
        self.found: dict[str, list[str]] = {}

    def _console(self, message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def note(self, name: str, response=None, *, live=False) -> None:
        """Record the violations of the page now shown, once its scripts (and socket) have run."""
        if response is not None:
            assert response.headers.get("content-security-policy"), f"{name}: no Content-Security-Policy"
        self.page.wait_for_load_state("load")
        if live:
            live_page(self.page)  # its socket is open
        self.page.wait_for_timeout(300)  # deferred scripts, htmx's first swaps
        self.found[name] = self.page.evaluate("() => window.__cspViolations") + self.console
        self.console = []

    def visit(self, path: str, *, status: int = 200, live=False) -> None:
        response = self.page.goto(f"{self.url}{path}")
        assert response.status == status, (path, response.status)
        self.note(path, response, live=live)

    def log_in(self, username: str, password: str = PASSWORD):
        self.page.goto(f"{self.url}/accounts/login/")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        with self.page.expect_navigation() as navigation:
            self.page.click("button[type=submit]")
        return navigation.value

    def close(self):
        self.context.close()


@pytest.fixture
def visitor(browser, server_url):
    visitors = []

    def open_browser(username: str | None = None) -> Visitor:
        visitors.append(Visitor(browser, server_url))
        if username:
            visitors[-1].note(f"login as {username}", visitors[-1].log_in(username))
        return visitors[-1]

    yield open_browser
    for one in visitors:
        one.close()


def assert_no_violations(visitor: Visitor):
    assert visitor.found, "no page was checked"
    violations = {page: found for page, found in visitor.found.items() if found}
    assert violations == {}, violations


def test_a_reviewers_pages(site, visitor):
    tina = visitor("tina")
    tina.visit("/reviews/", live=True)
    tina.visit(f"/reviews/{site['action']}/", live=True)
    with tina.page.expect_navigation():
        tina.page.get_by_role("button", name="Claim").click()
    tina.note("the action page, claimed", live=True)
    tina.page.locator("details.edit > summary").click()
    diff = tina.page.expect_response(lambda response: response.url.endswith("/diff"))
    with diff:  # htmx posts the edit and swaps its diff in
        tina.page.fill("[name='payload/subject']", "Your $40 refund is on its way")
    tina.note("the action page, edited")
    tina.visit("/activity/", live=True)
    tina.visit(f"/reviews/{uuid.uuid4()}/", status=404)
    tina.visit("/dashboard/", status=403)
    tina.visit("/api/docs/")
    tina.page.get_by_role("link", name="/api/v1/actions/preview").first.wait_for()
    tina.note("the API docs, rendered")
    assert_no_violations(tina)


def test_a_leads_and_an_auditors_pages(site, visitor):
    leo = visitor("leo")
    leo.visit("/dashboard/", live=True)
    leo.visit("/calibration/")
    assert_no_violations(leo)
    audrey = visitor("audrey")
    audrey.visit("/audit/")
    assert_no_violations(audrey)


def test_django_admins_pages(site, visitor):
    root = visitor("root")
    for path in (
        "/admin/",
        f"/admin/hitl/actiontype/{site['type'].pk}/change/",
        f"/admin/hitl/agent/{site['agent'].pk}/change/",
        "/admin/hitl/action/",
        "/admin/hitl/loginlockout/",
        f"/admin/auth/user/{site['root'].pk}/change/",
        "/admin/auth/group/add/",
        "/calibration/preferences/",
    ):
        root.visit(path)
    assert_no_violations(root)


def test_the_login_lockout_and_error_pages_of_a_visitor(site, visitor):
    anonymous = visitor()
    anonymous.visit("/accounts/login/")
    anonymous.visit("/admin/login/")
    anonymous.visit("/no-such-page/", status=404)
    for _ in range(5):
        response = anonymous.log_in("nobody", "wrong-password")
    assert response.status == 429
    anonymous.note("locked out", response)
    anonymous.page.goto(f"{anonymous.url}/accounts/login/")
    anonymous.context.clear_cookies()  # the form's CSRF cookie is gone: Django refuses the form
    anonymous.page.fill("input[name=username]", "tina")
    anonymous.page.fill("input[name=password]", PASSWORD)
    with anonymous.page.expect_navigation() as navigation:
        anonymous.page.click("button[type=submit]")
    assert navigation.value.status == 403
    anonymous.note("the CSRF failure page", navigation.value)
    assert_no_violations(anonymous)
