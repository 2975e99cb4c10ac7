import re

from playwright.sync_api import expect

from hitl.services import action_submit
from tests.factories import ReviewerGroupFactory, UserFactory


def test_the_queue_shows_a_live_countdown_to_each_deadline(server_url, page, agent, email_type):
    tina = UserFactory(username="tina", password="tina-review-pw")
    ReviewerGroupFactory(key="team").members.add(tina)
    action_submit(agent=agent, action_type=email_type, payload={}, summary="Email Jane", confidence=0.9)

    page.goto(f"{server_url}/accounts/login/?next=/reviews/")
    page.fill("input[name=username]", "tina")
    page.fill("input[name=password]", "tina-review-pw")
    page.click("button[type=submit]")
    row = page.locator("tr", has_text="Email Jane")
    expect(row).to_contain_text("tier1")
    countdown = row.locator("time.countdown")
    expect(countdown).to_have_text(re.compile(r"^in 3h 59m · 0 % of the SLA used$"))
    first = countdown.get_attribute("datetime")
    assert first and first.endswith("+00:00")
