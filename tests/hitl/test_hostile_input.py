"""Hostile input gets a 4xx JSON answer naming the field and the limit, never a 500; and a value
deep or large enough to have been a problem still renders as a page a reviewer can use, with the
whole of it a download away."""

import json

import httpx
import pytest
from django.test import Client

from hitl.models import Action
from hitl.services import token_issue
from tests.conftest import bearer_client, submit_body
from tests.factories import ActionTypeFactory, UserFactory
from tests.reviews.test_workspace import decide, desk, page  # noqa: F401 (desk: the fixture)


def nested(levels: int, leaf=1):
    """{"k": {"k": … leaf}}: `levels` objects deep (built without recursion)."""
    value = leaf
    for _ in range(levels):
        value = {"k": value}
    return value


def with_raw(field: str, raw: bytes, **overrides) -> bytes:
    """A submit body whose `field` is the JSON text `raw`, however deep (json.dumps could not write it)."""
    return json.dumps(submit_body(**{field: "@RAW@"}, **overrides)).encode().replace(b'"@RAW@"', raw)


def post_raw(client, path: str, data: bytes):
    return client.generic("POST", path, data, content_type="application/json")


def refused(response, field: str, *words: str) -> dict:
    """The 400 names `field`, and one of its reasons says all of `words`."""
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "invalid_request" and field in body["message"], body
    assert any(all(word in reason for word in words) for reason in body["fields"][field]), body
    return body


# JSON depth, capped at parse time.


@pytest.mark.parametrize("levels", [1_500, 10_000, 40_000])
def test_a_body_nested_past_what_python_parses_is_a_400_naming_the_limit(api, levels):
    raw = with_raw("context", b'{"k":' * levels + b"1" + b"}" * levels)
    response = post_raw(api, "/api/v1/actions", raw)
    refused(response, "body", "more than 32 levels")
    assert not Action.objects.exists()


@pytest.mark.parametrize("field", ["context", "payload", "entity"])
def test_a_field_nested_60_deep_is_a_400_naming_the_field_and_the_limit(api, field):
    response = api.post("/api/v1/actions", submit_body(**{field: nested(60)}), format="json")
    refused(response, field, "more than 32 levels")
    assert not Action.objects.exists()


def test_the_depth_limit_counts_levels_of_objects_and_arrays_and_is_a_setting(api, settings):
    assert api.post("/api/v1/actions", submit_body(context=nested(32)), format="json").status_code == 201
    lists = {"k": [[[[1]]]]}  # an object and four arrays: five levels
    assert api.post("/api/v1/actions/preview", submit_body(context=lists), format="json").status_code == 200
    settings.HITL_MAX_JSON_DEPTH = 4
    refused(api.post("/api/v1/actions/preview", submit_body(context=lists), format="json"), "context",
            "more than 4 levels")  # fmt: skip


def test_the_other_json_fields_are_capped_too(api, reviewer_api, submitted):
    pending = submitted(confidence=0.75)
    decision = {"decision": "modify", "payload": {"to": "a@example.com", "subject": "Hi", "x": nested(60)}}
    refused(reviewer_api.post(f"/api/v1/actions/{pending['id']}/decision", decision, format="json"), "payload",
            "more than 32 levels")  # fmt: skip
    assert Action.objects.get(pk=pending["id"]).status == "pending"
    outcome = {"outcome": "executed", "detail": nested(60)}
    refused(api.post(f"/api/v1/actions/{pending['id']}/outcome", outcome, format="json"), "detail", "32 levels")


# Size.


def test_a_60000_number_list_is_a_400_naming_the_field_and_the_limit(api):
    raw = json.dumps(submit_body(context={"numbers": [7] * 60_000})).encode()
    assert len(raw) < 256 * 1024  # within the body limit: the values are what is too many
    refused(post_raw(api, "/api/v1/actions", raw), "context", "more than 10,000 values")
    big_payload = submit_body(payload={"to": "a@example.com", "subject": "Hi", "body": "x", "ids": [1] * 10_001})
    refused(api.post("/api/v1/actions", big_payload, format="json"), "payload", "10,000")
    assert not Action.objects.exists()
    fits = submit_body(context={"numbers": [7] * 9_999})
    assert api.post("/api/v1/actions", fits, format="json").status_code == 201


# Integers beyond their columns.


def test_integers_beyond_their_columns_are_a_400_naming_the_field(api, reviewer_api, submitted):
    for path in ("/api/v1/actions", "/api/v1/actions/preview"):
        refused(api.post(path, submit_body(blast_radius=10**20), format="json"), "blast_radius", "2147483647")
    pending = submitted(confidence=0.75)
    response = reviewer_api.post(f"/api/v1/actions/{pending['id']}/decision",
                                 {"decision": "approve", "version": 10**20}, format="json")  # fmt: skip
    refused(response, "version", "2147483647")
    assert Action.objects.get(pk=pending["id"]).status == "pending"


# Every error the API can return is JSON.


@pytest.mark.parametrize("size", [300 * 1024, 3 * 1024 * 1024])
def test_a_chunked_body_over_the_limit_is_a_json_413(server_url, agent_and_token, email_type, size):
    def chunks():
        body = json.dumps(submit_body(reasoning="x" * size)).encode()
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = httpx.post(f"{server_url}/api/v1/actions", content=chunks(), timeout=30,
                          headers={"Authorization": f"Bearer {agent_and_token[1]}",
                                   "Content-Type": "application/json"})  # fmt: skip
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == "body_too_large" and "body" in response.json()["fields"]
    assert not Action.objects.exists()


def test_a_host_the_service_does_not_answer_for_gets_json_on_the_api(api):
    response = api.post("/api/v1/actions", submit_body(), format="json", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json" and response.json()["error"] == "bad_request"
    assert not Action.objects.exists()


# A bearer token on a page.


PAGES = [("GET", "/reviews/"), ("GET", "/activity/"), ("GET", "/dashboard/"), ("GET", "/calibration/"),
         ("GET", "/audit/"), ("GET", "/reviews/{action}/"), ("GET", "/reviews/{action}/context.json"),
         ("POST", "/reviews/next"), ("POST", "/reviews/{action}/decide")]  # fmt: skip


@pytest.mark.parametrize("method,path", PAGES)
def test_a_bearer_token_on_a_page_is_401_not_500(agent_and_token, team_reviewer, submitted, method, path):
    url = path.format(action=submitted()["id"])
    for token in (agent_and_token[1], token_issue(user=team_reviewer, label="on a page")):
        browser = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {token}")
        response = browser.generic(method, url)
        assert response.status_code == 401, (url, response.status_code)
        assert response.json()["error"] == "not_authenticated"
        assert "/api/" in response.json()["message"]


def test_a_bearer_token_is_no_login_but_the_pages_anyone_may_see_still_answer(agent_and_token, submitted):
    action = submitted()
    assert bearer_client(agent_and_token[1]).get(f"/api/v1/actions/{action['id']}").status_code == 200
    browser = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {agent_and_token[1]}")
    assert browser.get("/healthz").status_code == 200
    login = browser.get("/accounts/login/")
    assert login.status_code == 200 and b'name="password"' in login.content
    assert browser.post("/accounts/logout/").status_code == 302
    admin = browser.get("/admin/")
    assert admin.status_code == 302 and admin["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("levels", [60, 1_500])
def test_a_reviewer_s_json_edit_nested_too_deep_is_refused_on_the_page(client, desk, levels):  # noqa: F811
    people, submit = desk
    action = submit()
    edit = '{"to": "a@example.com", "subject": "Hi", "x": ' + '{"k":' * levels + "1" + "}" * levels + "}"
    form = {"decision": "approve", "payload_mode": "json", "payload_json": edit}

    response = decide(client, people["tina"], action, **form)

    assert response.status_code == 400
    assert "more than 32 levels deep" in response.content.decode()
    assert Action.objects.get(pk=action.pk).status == "pending"
    diff = client.post(f"/reviews/{action.pk}/diff", form)
    assert diff.status_code == 200 and "more than 32 levels deep" in diff.content.decode()


# Pages render deep and large values, whatever was stored.


@pytest.fixture
def free_form(desk):  # noqa: F811
    """Submit through the service (as anything stored before the limits was) an action of a type
    without a payload schema, which the team (tina) reviews."""
    people, submit = desk
    export = ActionTypeFactory(key="export_records", payload_schema=None)

    def stored(**fields):
        action = submit("Export the records", action_type=export, **fields)
        assert action.reviewer_group == "team"
        return action

    return people, stored


def test_a_60000_number_list_renders_collapsed_with_a_count_and_a_download(client, free_form):
    people, stored = free_form
    action = stored(payload={"ids": [1, 2]}, context={"numbers": [7] * 60_000, "note": "see the numbers"})

    response = page(client, people["tina"], action)

    html = response.content.decode()
    assert response.status_code == 200
    assert len(html) < 100_000  # not 2 MB
    assert html.count('<li><span class="value">7</span></li>') == 50
    assert "… and 59,950 more" in html
    assert "Numbers (60000)" in html and "see the numbers" in html
    url = f"/reviews/{action.pk}/context.json"
    assert f'<a href="{url}" download>Download the full JSON</a>' in html
    full = client.get(url)
    assert full.status_code == 200 and full["Content-Type"] == "application/json"
    assert full["Content-Disposition"] == f'attachment; filename="action-{action.pk}-context.json"'
    assert full.json() == {"numbers": [7] * 60_000, "note": "see the numbers"}


def test_a_long_payload_renders_collapsed_with_its_own_download(client, free_form):
    people, stored = free_form
    action = stored(payload={"ids": list(range(60_000))})

    html = page(client, people["tina"], action).content.decode()

    assert '<li><span class="value">49</span></li><li class="more muted">… and 59,950 more</li>' in html
    url = f"/reviews/{action.pk}/payload.json"
    assert f'<a href="{url}" download>Download the full JSON</a>' in html
    assert client.get(url).json() == {"ids": list(range(60_000))}


def test_a_value_nested_deeper_than_the_page_shows_is_cut_with_a_download(client, free_form):
    people, stored = free_form
    action = stored(payload={"tree": nested(60, "the leaf")}, context={"tree": nested(200)})

    response = page(client, people["tina"], action)

    html = response.content.decode()
    assert response.status_code == 200
    assert "nested deeper than 8 levels" in html  # the page shows 8; the download has it all
    assert '<span class="value">the leaf</span>' not in html
    assert f'href="/reviews/{action.pk}/payload.json"' in html
    assert client.get(f"/reviews/{action.pk}/payload.json").json() == {"tree": nested(60, "the leaf")}


def test_a_long_text_is_cut_with_a_count_and_a_download(client, free_form):
    people, stored = free_form
    body = "word " * 7_600  # 38,000 characters: an email body pasted whole
    action = stored(payload={"body": body}, context={})

    html = page(client, people["tina"], action).content.decode()

    assert "… and 36,000 more characters" in html  # shown cut (the edit form still holds it whole)
    assert client.get(f"/reviews/{action.pk}/payload.json").json() == {"body": body}


def test_a_short_value_renders_whole_with_no_download_link(client, free_form):
    people, stored = free_form
    action = stored(payload={"ids": [1, 2, 3]}, context={"documents": [{"title": "Policy 4.2"}]})
    html = page(client, people["tina"], action).content.decode()
    assert '<ol class="items"><li><span class="value">1</span></li><li><span class="value">2</span></li>' in html
    assert "Download the full JSON" not in html and " more</" not in html


def test_the_full_json_is_for_the_reviewers_who_can_open_the_action(client, free_form):
    people, stored = free_form
    action = stored(payload={"ids": [1]})
    url = f"/reviews/{action.pk}/context.json"
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(people["leo"])  # a lead sees tier1 too
    assert client.get(url).status_code == 200
    client.force_login(people["fiona"])  # finance does not
    assert client.get(url).status_code == 404
    client.force_login(UserFactory(username="nobody"))
    assert client.get(url).status_code == 404
    client.force_login(people["tina"])
    assert client.get(f"/reviews/{action.pk}/secrets.json").status_code == 404
    assert client.get(url).json() == action.context
