import httpx
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.conftest import submit_body
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory


def test_a_reviewer_lands_on_the_queue_and_the_activity_page_shows_what_she_may_open_live(
    server_url, page, agent_and_token, email_type
):
    tina = get_user_model().objects.create_user("tina", password="tina-review-pw")
    ReviewerGroupFactory(key="team", rank=1).members.add(tina)
    ReviewerGroupFactory(key="finance", kind="expertise", rank=0).members.add(UserFactory(username="fiona"))
    ActionTypeFactory(key="issue_refund", payload_schema=None, reviewer_group="finance")

    page.goto(f"{server_url}/")
    expect(page).to_have_url(f"{server_url}/accounts/login/?next=/")
    page.fill("input[name=username]", "tina")
    page.fill("input[name=password]", "tina-review-pw")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server_url}/reviews/")  # a reviewer lands on her queue
    page.get_by_role("link", name="Activity").click()
    expect(page.get_by_text("No actions you can open yet")).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-live", "1", timeout=10_000)

    def submit(**body):
        response = httpx.post(
            f"{server_url}/api/v1/actions",
            json=submit_body(**body),
            headers={"Authorization": f"Bearer {agent_and_token[1]}"},
        )
        assert response.status_code == 201, response.text
        return response.json()

    submit(action_type="issue_refund", payload={"amount": 40}, summary="Refund Jane $40")  # finance's
    action = submit(summary="Email Jane about her refund")
    row = page.locator("tr", has_text="Email Jane about her refund")
    expect(row).to_be_visible(timeout=5000)  # pushed over the socket, no polling
    expect(row).to_contain_text("pending")
    expect(row).to_contain_text("irreversible action type: approved before it runs")
    expect(page.get_by_text("Refund Jane $40")).to_have_count(0)  # not hers to open: not listed
    row.get_by_role("link", name="Email Jane about her refund").click()
    expect(page).to_have_url(f"{server_url}/reviews/{action['id']}/")


def test_the_api_docs_render_from_local_assets(server_url, page):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server_url}/api/docs/")
    expect(page.get_by_role("link", name="/api/v1/actions/preview")).to_be_visible()
    assert requested and all(url.startswith(server_url) for url in requested), requested
