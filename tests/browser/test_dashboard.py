"""The lead's SLA dashboard in Chromium: a lead logs in and lands on it, and watches an action
arrive and be decided without reloading; desktop and phone."""

import httpx
import pytest
from playwright.sync_api import expect

from hitl.services import token_issue
from tests.browser.conftest import PASSWORD
from tests.conftest import submit_body
from tests.factories import ReviewerGroupFactory, UserFactory

DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_lead_lands_on_the_dashboard_and_sees_an_action_arrive_and_be_decided_live(
    server_url, browser, viewport, agent_and_token, email_type
):
    ReviewerGroupFactory(key="lead", rank=2).members.add(UserFactory(username="leo", password=PASSWORD))
    tina = UserFactory(username="tina")
    ReviewerGroupFactory(key="team", rank=1).members.add(tina)
    tina_token = token_issue(user=tina, label="tests")
    ReviewerGroupFactory(key="executive", rank=3).members.add(UserFactory(username="eve"))
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(f"{server_url}/")
    page.fill("input[name=username]", "leo")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server_url}/dashboard/")  # a lead lands on the dashboard
    expect(page.get_by_role("heading", name="SLA dashboard")).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-live", "1", timeout=10_000)
    waiting = page.locator("#tile-now dl.stats > div", has_text="Waiting").locator("dd")
    expect(waiting).to_have_text("0")
    tier1 = page.locator("#tile-now tr", has=page.get_by_role("link", name="tier1", exact=True))
    decided = page.locator("#tile-sla tr", has=page.get_by_role("link", name="tier1", exact=True))

    response = httpx.post(
        f"{server_url}/api/v1/actions",
        json=submit_body(summary="Email Jane about her refund"),
        headers={"Authorization": f"Bearer {agent_and_token[1]}"},
    )
    assert response.status_code == 201 and response.json()["status"] == "pending", response.text
    expect(waiting).to_have_text("1", timeout=5000)  # pushed: no reload, well before the 30 s re-read
    expect(tier1.locator("td").nth(1)).to_have_text("1")

    decision = httpx.post(
        f"{server_url}/api/v1/actions/{response.json()['id']}/decision",
        json={"decision": "approve"},
        headers={"Authorization": f"Bearer {tina_token}"},
    )
    assert decision.status_code == 200, decision.text
    expect(waiting).to_have_text("0", timeout=5000)
    expect(decided.locator("td").nth(1)).to_have_text("1")  # decided at tier1 in the last 24 hours
    expect(page.locator("#tile-capacity")).to_contain_text("tina")  # her verdict, in the reviewers' table

    # A tier3 item is not one leo may open, so no row of it reaches his socket; the dashboard is
    # told that something changed all the same, and counts it.
    risky = httpx.post(
        f"{server_url}/api/v1/actions",
        json=submit_body(summary="Wire the settlement", compliance_risk=True),
        headers={"Authorization": f"Bearer {agent_and_token[1]}"},
    )
    assert risky.status_code == 201 and risky.json()["route"]["tier"] == "tier3", risky.text
    expect(waiting).to_have_text("1", timeout=5000)
    tier3 = page.locator("#tile-now tr", has=page.get_by_role("link", name="tier3", exact=True))
    expect(tier3.locator("td").nth(1)).to_have_text("1")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]  # no sideways scroll
    context.close()
