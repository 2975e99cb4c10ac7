"""Admin, the activity page and the API docs, as a person sees them."""

import re

import pytest
from django.contrib.auth import get_user_model

from hitl.models import ActionType


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_admin_lists_agents_types_actions_and_audit(admin_client, submitted):
    submitted()
    for url in [
        "/admin/hitl/agent/",
        "/admin/hitl/actiontype/",
        "/admin/hitl/action/",
        "/admin/audit/auditevent/",
        "/admin/reviews/reviewergroup/",
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_actions_are_read_only_in_admin(admin_client, submitted):
    action = submitted()
    assert admin_client.get("/admin/hitl/action/add/").status_code == 403
    page = admin_client.get(f"/admin/hitl/action/{action['id']}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content


def test_admin_refuses_an_invalid_payload_schema(admin_client):
    response = admin_client.post(
        "/admin/hitl/actiontype/add/",
        {"key": "bad_type", "name": "Bad", "payload_schema": '{"type": "no-such-type"}', "is_active": "on"},
    )
    assert response.status_code == 200
    assert b"Not a valid JSON Schema" in response.content
    assert not ActionType.objects.filter(key="bad_type").exists()


def test_admin_refuses_a_threshold_or_sample_rate_outside_0_1_an_error_cost_out_of_range_and_an_unknown_group(
    admin_client,
):
    response = admin_client.post(
        "/admin/hitl/actiontype/add/",
        {"key": "t", "name": "T", "threshold": "1.5", "audit_sample_rate": "-0.1", "error_cost": "5000",
         "review_window": "04:00:00", "reviewer_group": "nobody", "is_active": "on"},
    )  # fmt: skip
    assert b"less than or equal to 1." in response.content
    assert b"less than or equal to 1000" in response.content
    assert b"greater than or equal to 0" in response.content
    assert b"No reviewer group" in response.content
    assert not ActionType.objects.filter(key="t").exists()


def test_admin_issues_a_token_shown_once(admin_client, agent):
    response = admin_client.post(
        "/admin/hitl/agent/", {"action": "issue_token", "_selected_action": [agent.pk]}, follow=True
    )
    assert re.search(rb"hitl_[A-Za-z0-9_-]{40,}", response.content)
    assert agent.tokens.count() == 2


def test_activity_page_lists_actions(admin_client, submitted):
    action = submitted(summary="Email Jane about her refund")
    page = admin_client.get("/activity/")
    assert page.status_code == 200
    assert f'<a href="/reviews/{action["id"]}/">Email Jane about her refund</a>'.encode() in page.content
    assert b"irreversible action type: approved before it runs" in page.content  # why it waits
    partial = admin_client.get("/activity/", HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b"Email Jane about her refund" in partial.content


@pytest.mark.parametrize("path", ["/", "/activity/"])
def test_pages_redirect_anonymous_users_to_login(db, path):
    from django.test import Client

    response = Client().get(path)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_activity_page_empty_state(admin_client):
    assert b"No actions you can open yet" in admin_client.get("/activity/").content


def test_openapi_schema_describes_the_agent_api(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/v1/actions",
        "/api/v1/actions/preview",
        "/api/v1/actions/{action_id}",
        "/api/v1/actions/{action_id}/cancel",
        "/api/v1/actions/{action_id}/outcome",
        "/api/v1/actions/{action_id}/decision",
    ]:
        assert path in paths, path
    assert "post" in paths["/api/v1/actions"]
    params = {p["name"] for p in paths["/api/v1/actions/{action_id}"]["get"]["parameters"]}
    assert "wait" in params


def test_api_docs_load_no_asset_from_another_host(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    assert not [a for a in assets if a.startswith(("http://", "https://", "//"))]
    for asset in assets:
        if asset.startswith("/static/"):
            assert client.get(asset).status_code == 200, asset


def test_healthz(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
