"""The calibration page in Chromium: a lead opens it from the navigation, reads a reliability
diagram, follows a bin to the actions behind it, and sees a new verdict arrive; desktop and phone."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from hitl.services import action_submit, agent_create
from reviews.services import review_decide
from tests.browser.conftest import PASSWORD
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

EMAIL = {"to": "jane@example.com", "subject": "Hello"}
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 375, "height": 812}


@pytest.fixture
def decided(transactional_db):
    """Leo leads; an admin decided five emails: three in the 0.9–1 bin (one wrong), two in 0.7–0.8."""
    ReviewerGroupFactory(key="lead", rank=2).members.add(UserFactory(username="leo", password=PASSWORD))
    root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    email, bot = ActionTypeFactory(), agent_create(name="support-bot")[0]

    def decide(confidence: float, right: bool):
        action = action_submit(agent=bot, action_type=email, payload=EMAIL, summary=f"Email at {confidence}",
                               confidence=confidence)  # fmt: skip
        verdict = {"decision": "approve"} if right else {"decision": "reject", "comment": "Wrong"}
        review_decide(reviewer=root, action_id=action.pk, **verdict)

    for confidence, right in [(0.95, True), (0.92, False), (0.97, True), (0.74, False), (0.71, True)]:
        decide(confidence, right)
    return decide


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_lead_reads_the_diagram_and_follows_a_bin_to_its_actions(log_in, server_url, decided, viewport):
    page = log_in("leo", viewport=viewport)
    page.get_by_role("link", name="Calibration").click()
    expect(page).to_have_url(f"{server_url}/calibration/")

    diagram = page.locator("article", has_text="send_email").locator("svg.diagram")
    expect(diagram).to_be_visible()
    expect(diagram.locator("circle.dot")).to_have_count(2)
    expect(diagram.locator("title").first).to_have_text("Reliability diagram of send_email")
    assert diagram.bounding_box()["width"] <= viewport["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]  # no sideways scroll

    diagram.locator('a.bin[aria-label^="Confidence 0.9–1:"]').click()
    expect(page).to_have_url(re.compile(r"/activity/\?.*confidence_from=0\.9"))
    rows = page.locator("table.activity tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text="Email at 0.7")).to_have_count(0)
    expect(page.get_by_text("Only actions of type send_email stated with confidence from 0.9")).to_be_visible()


def test_the_diagram_takes_in_a_new_verdict_without_a_reload(log_in, server_url, decided):
    page = log_in("leo", next_path="/calibration/")
    dots = page.locator("article", has_text="send_email").locator("circle.dot")
    expect(dots).to_have_count(2)

    decided(0.55, False)  # a third bin
    expect(dots).to_have_count(3, timeout=20_000)  # the charts are re-read every 15 s
