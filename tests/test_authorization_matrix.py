"""Who gets what, everywhere (issue 19): every URL the project serves (pages, API, audit, admin, the
websocket) × every role (anonymous, an agent, another agent, team / lead / executive / expertise
reviewers, an auditor, an admin). Each cell is what that role must get: OK (the page or the API's
answer, any 2xx, or a 3xx to somewhere other than the login page, or the 400 or 409 of a body
refused after access was granted), LOGIN (a page's redirect to the login page), or the refusal's status (401, 403,
404). A URL the resolver knows that is not in the table fails the test until it is added.
"""

import asyncio
import json

import httpx
import pytest
from channels.testing.websocket import WebsocketCommunicator
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from hitl.asgi import application
from hitl.services import action_submit, agent_create, token_issue
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROLES = ("anonymous", "agent", "other_agent", "team", "lead", "executive", "expertise", "auditor", "admin")
OK, LOGIN, ADMIN_LOGIN = "ok", "login", "admin login"


def row(anonymous, agent, other_agent, team, lead, executive, expertise, auditor, admin_):
    return dict(zip(ROLES, (anonymous, agent, other_agent, team, lead, executive, expertise, auditor, admin_),
                    strict=True))  # fmt: skip


# Any signed-in person (the reviewer pages show each one only what their groups cover: nothing, to
# an auditor in no reviewer group); an agent's token is not a login.
PAGE = row(LOGIN, 401, 401, OK, OK, OK, OK, OK, OK)
LEAD_PAGE = row(LOGIN, 401, 401, 403, OK, OK, 403, 403, OK)
ADMIN_PAGE = row(LOGIN, 401, 401, 403, 403, 403, 403, 403, OK)
AUDIT_PAGE = row(LOGIN, 401, 401, 403, 403, 403, 403, OK, OK)
# The tier1 team action waiting: its group, the tiers above and admins see it; others do not know it exists.
ACTION_PAGE = row(LOGIN, 401, 401, OK, OK, OK, 404, 404, OK)
LEAD_ACTION = row(LOGIN, 401, 401, 403, OK, OK, 404, 404, OK)  # the team sees it; only those above act on it
PUBLIC = row(OK, OK, OK, OK, OK, OK, OK, OK, OK)
# The agent API: agent tokens only (a person's session is no credential there: 401).
AGENT_API = row(401, OK, OK, 401, 401, 401, 401, 401, 401)
OWN_ACTION_API = row(401, OK, 404, 401, 401, 401, 401, 401, 401)  # another agent's action does not exist
DECISION_API = row(401, 403, 403, OK, OK, OK, 404, 404, OK)
AUDIT_API = row(401, 403, 403, 403, 403, 403, 403, OK, OK)
CALIBRATION_API = row(401, 403, 403, 403, OK, OK, 403, 403, OK)
PREFERENCES_API = row(401, OK, OK, 403, 403, 403, 403, 403, OK)

# (method, path) -> who gets what. {action} is the waiting action's id.
MATRIX = {
    ("GET", "/"): PAGE,  # the landing page sends each role on to its own
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/favicon.ico"): PUBLIC,  # 204: no icon, and no 404 in the logs
    ("GET", "/accounts/login/"): PUBLIC,
    ("POST", "/accounts/logout/"): row(*[LOGIN] * 9),  # logged out (or already), on to the login page
    ("GET", "/activity/"): PAGE,
    ("GET", "/reviews/"): PAGE,
    ("POST", "/reviews/next"): PAGE,
    ("GET", "/reviews/{action}/"): ACTION_PAGE,
    ("POST", "/reviews/{action}/claim"): ACTION_PAGE,
    ("POST", "/reviews/{action}/release"): ACTION_PAGE,
    ("POST", "/reviews/{action}/take-over"): LEAD_ACTION,
    ("POST", "/reviews/{action}/reassign"): LEAD_ACTION,
    ("POST", "/reviews/{action}/decide"): ACTION_PAGE,
    ("POST", "/reviews/{action}/diff"): ACTION_PAGE,
    ("GET", "/reviews/{action}/payload.json"): ACTION_PAGE,
    ("GET", "/calibration/"): LEAD_PAGE,
    ("GET", "/calibration/preferences/"): ADMIN_PAGE,
    ("GET", "/dashboard/"): LEAD_PAGE,
    ("GET", "/dashboard/waiting.csv"): LEAD_PAGE,
    ("GET", "/audit/"): AUDIT_PAGE,
    ("GET", "/audit/export"): AUDIT_PAGE,
    ("GET", "/api/v1/audit/events"): AUDIT_API,
    ("POST", "/api/v1/actions/{action}/decision"): DECISION_API,
    ("GET", "/api/v1/calibration"): CALIBRATION_API,
    ("GET", "/api/v1/training-data"): AUDIT_API,
    ("GET", "/api/v1/preferences"): PREFERENCES_API,
    ("POST", "/api/v1/actions"): AGENT_API,
    ("POST", "/api/v1/actions/preview"): AGENT_API,
    ("GET", "/api/v1/actions/{action}"): OWN_ACTION_API,
    ("POST", "/api/v1/actions/{action}/cancel"): OWN_ACTION_API,
    ("POST", "/api/v1/actions/{action}/outcome"): OWN_ACTION_API,
    ("GET", "/api/v1/receipt-keys"): PUBLIC,
    ("GET", "/api/schema/"): PUBLIC,
    ("GET", "/api/docs/"): PUBLIC,
    ("GET", "/api/schema"): PUBLIC,
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/api/nothing-here"): row(404, 404, 404, 404, 404, 404, 404, 404, 404),
}
# The bodies the API's POSTs get: valid, yet changing nothing once let in (a stale version, an
# outcome for an action not approved), so that each role meets the access check itself.
BODIES = {
    "/api/v1/actions/{action}/decision": {"decision": "approve", "version": 999999},
    "/api/v1/actions/{action}/outcome": {"outcome": "executed"},
}
# The URL patterns each entry above stands for (the resolver's own spelling).
PATTERNS = {
    "": "/", "healthz": "/healthz", "favicon.ico": "/favicon.ico", "accounts/login/": "/accounts/login/",
    "accounts/logout/": "/accounts/logout/", "activity/": "/activity/", "reviews/": "/reviews/",
    "reviews/next": "/reviews/next", "reviews/<uuid:action_id>/": "/reviews/{action}/",
    "reviews/<uuid:action_id>/claim": "/reviews/{action}/claim",
    "reviews/<uuid:action_id>/release": "/reviews/{action}/release",
    "reviews/<uuid:action_id>/take-over": "/reviews/{action}/take-over",
    "reviews/<uuid:action_id>/reassign": "/reviews/{action}/reassign",
    "reviews/<uuid:action_id>/decide": "/reviews/{action}/decide",
    "reviews/<uuid:action_id>/diff": "/reviews/{action}/diff",
    "reviews/<uuid:action_id>/<slug:part>.json": "/reviews/{action}/payload.json",
    "calibration/": "/calibration/", "calibration/preferences/": "/calibration/preferences/",
    "dashboard/": "/dashboard/", "dashboard/<slug:table>.csv": "/dashboard/waiting.csv", "audit/": "/audit/",
    "audit/export": "/audit/export", "api/v1/audit/events": "/api/v1/audit/events",
    "api/v1/actions/<uuid:action_id>/decision": "/api/v1/actions/{action}/decision",
    "api/v1/calibration": "/api/v1/calibration", "api/v1/training-data": "/api/v1/training-data",
    "api/v1/preferences": "/api/v1/preferences", "api/v1/actions": "/api/v1/actions",
    "api/v1/actions/preview": "/api/v1/actions/preview", "api/v1/actions/<uuid:action_id>": "/api/v1/actions/{action}",
    "api/v1/actions/<uuid:action_id>/cancel": "/api/v1/actions/{action}/cancel",
    "api/v1/actions/<uuid:action_id>/outcome": "/api/v1/actions/{action}/outcome",
    "api/v1/receipt-keys": "/api/v1/receipt-keys", "api/schema/": "/api/schema/", "api/docs/": "/api/docs/",
    "api/schema": "/api/schema", "api/docs": "/api/docs", "^api/": "/api/nothing-here",
}  # fmt: skip
WEBSOCKET = row(4401, 4401, 4401, OK, OK, OK, OK, OK, OK)  # carries only what each one's scope covers


@pytest.fixture
def world(db):
    groups = {
        key: ReviewerGroupFactory(key=key, rank=rank) for key, rank in (("team", 1), ("lead", 2), ("executive", 3))
    }
    groups["finance"] = ReviewerGroupFactory(key="finance", kind="expertise", rank=0)
    people = {}
    for role, name, group in (("team", "tina", "team"), ("lead", "leo", "lead"), ("executive", "eve", "executive"),
                              ("expertise", "fiona", "finance")):  # fmt: skip
        people[role] = UserFactory(username=name)
        groups[group].members.add(people[role])
    people["auditor"] = UserFactory(username="audrey")
    people["auditor"].groups.add(Group.objects.get(name="auditors"))
    people["admin"] = UserFactory(username="ada", is_staff=True, is_superuser=True)
    email = ActionTypeFactory()
    agent, token = agent_create(name="support-bot")
    _, other = agent_create(name="billing-bot")
    action = action_submit(agent=agent, action_type=email, payload={"to": "jane@example.com", "subject": "Hi"},
                           summary="Email Jane", confidence=0.9)  # fmt: skip
    assert (action.status, action.route_tier, action.reviewer_group) == ("pending", "tier1", "team")
    return people, {"agent": token, "other_agent": other}, action


def client_for(role: str, people: dict, tokens: dict) -> Client:
    if role in tokens:
        return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {tokens[role]}")
    client = Client(raise_request_exception=False)
    if role in people:
        client.force_login(people[role])
    return client


def outcome(response, *, admin_url: bool = False):
    """What a cell compares: OK, LOGIN, ADMIN_LOGIN, or the status of a refusal (or of a failure)."""
    status = response.status_code
    if status in (301, 302, 303):
        where = response.headers["Location"]
        if where.startswith("/admin/login/"):
            return ADMIN_LOGIN
        if where.startswith("/accounts/login/"):
            return LOGIN
        return OK
    if status < 300 or status in (400, 409) or (status == 405 and not admin_url):
        return OK
    return status


def every_url_pattern(patterns=None, prefix=""):
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            if str(p.pattern) == "admin/":
                continue  # below: each registered model's pages
            yield from every_url_pattern(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern)


def test_every_url_is_in_the_table():
    missing = sorted(set(every_url_pattern()) - set(PATTERNS))
    assert not missing, f"add these URLs to the authorization matrix: {missing}"
    assert set(PATTERNS.values()) == {path for _, path in MATRIX}


def test_each_role_gets_exactly_what_it_should_at_every_url(world):
    people, tokens, action = world
    wrong = []
    for (method, path), expected in MATRIX.items():
        url = path.format(action=action.pk)
        for role in ROLES:  # a client each time: a logout, a claim or a decision leaves nothing behind
            client = client_for(role, people, tokens)
            if method == "POST" and url.startswith("/api/"):
                body = json.dumps(BODIES.get(path, {}))  # refused only after access is checked: a 400 or 409
                response = client.post(url, data=body, content_type="application/json")
            else:
                response = getattr(client, method.lower())(url)
            got = outcome(response)
            if got != expected[role]:
                wrong.append(f"{role:11} {method} {url}: got {got} ({response.status_code}), want {expected[role]}")
    assert not wrong, "\n".join(wrong)


def test_admin_is_for_admins_only(world):
    """Every model's list and add page in Django admin, and its index: admins only."""
    people, tokens, _ = world
    urls = ["/admin/"] + [f"/admin/{m._meta.app_label}/{m._meta.model_name}/" for m in admin.site._registry]
    urls += [f"/admin/{m._meta.app_label}/{m._meta.model_name}/add/" for m, a in admin.site._registry.items()
             if a.has_add_permission(_request_of(people["admin"]))]  # fmt: skip
    want = row(
        ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, OK
    )
    wrong = []
    for role in ROLES:
        client = client_for(role, people, tokens)
        for url in urls:
            got = outcome(client.get(url), admin_url=True)
            if got != want[role]:
                wrong.append(f"{role:11} GET {url}: got {got}, want {want[role]}")
    assert not wrong, "\n".join(wrong)
    assert len(urls) > 30


def _request_of(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_the_websocket_is_for_signed_in_people(world):
    people, tokens, _ = world
    headers = {role: _credentials(role, people, tokens) for role in ROLES}  # sessions made here, not in the loop

    async def connect(role):
        socket = WebsocketCommunicator(
            application, "/ws/reviews/", headers=[(b"origin", b"http://localhost:8000"), *headers[role]]
        )
        connected, code = await socket.connect()
        if connected:
            await socket.disconnect()
        return OK if connected else code

    async def everyone():
        return {role: await connect(role) for role in ROLES}

    assert asyncio.run(everyone()) == WEBSOCKET


def _credentials(role: str, people: dict, tokens: dict) -> list[tuple[bytes, bytes]]:
    """The headers a role's browser or program sends: its session cookie, or its bearer token."""
    if role in tokens:
        return [(b"authorization", f"Bearer {tokens[role]}".encode())]
    client = client_for(role, people, tokens)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())] if role in people else []


MCP = row(401, OK, OK, 401, 401, 401, 401, 401, 401)  # /mcp (mcpgate), served beside Django by hitl.asgi


def test_the_mcp_endpoint_is_for_agent_tokens_only(world):
    people, tokens, _ = world
    reviewer = [(b"authorization", f"Bearer {token_issue(user=people['team'], label='matrix')}".encode())]
    headers = {role: _credentials(role, people, tokens) for role in ROLES}
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}

    async def everyone():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost:8000") as http:

            async def post(sent):
                sent = {name.decode(): value.decode() for name, value in sent}
                return await http.post("/mcp", json=listing, headers={"Accept": "application/json", **sent})

            got = {role: outcome(await post(headers[role])) for role in ROLES}
            return got, (await post(reviewer)).status_code

    got, reviewer_status = asyncio.run(everyone())
    assert got == MCP
    assert reviewer_status == 403  # a reviewer's token, not an agent's
