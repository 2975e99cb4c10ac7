import httpx
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.conftest import submit_body


def test_a_reviewer_logs_in_and_sees_a_new_action_arrive_without_reloading(
    server_url, page, agent_and_token, email_type
):
    get_user_model().objects.create_user("tina", password="tina-review-pw")

    page.goto(f"{server_url}/")
    expect(page).to_have_url(f"{server_url}/accounts/login/?next=/")
    page.fill("input[name=username]", "tina")
    page.fill("input[name=password]", "tina-review-pw")
    page.click("button[type=submit]")
    expect(page.get_by_text("No actions yet")).to_be_visible()

    response = httpx.post(
        f"{server_url}/api/v1/actions",
        json=submit_body(summary="Email Jane about her refund"),
        headers={"Authorization": f"Bearer {agent_and_token[1]}"},
    )
    assert response.status_code == 201, response.text
    row = page.locator("tr", has_text="Email Jane about her refund")
    expect(row).to_be_visible(timeout=8000)  # the list refreshes itself every few seconds
    expect(row).to_contain_text("pending")
    expect(row).to_contain_text("irreversible action type: approved before it runs")


def test_the_api_docs_render_from_local_assets(server_url, page):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server_url}/api/docs/")
    expect(page.get_by_text("/api/v1/actions/preview")).to_be_visible()
    assert requested and all(url.startswith(server_url) for url in requested), requested
