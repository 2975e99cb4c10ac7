"""An action whose context or payload is deep or large opens in Chromium as a small page a reviewer
can use: long lists cut with a count, deep values cut with a note, the whole a download away."""

import json
import time
from pathlib import Path

from playwright.sync_api import expect

from hitl.services import action_submit, agent_create
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

from .conftest import PASSWORD


def nested(levels: int, leaf="the leaf"):
    value = leaf
    for _ in range(levels):
        value = {"k": value}
    return value


def test_a_deep_and_large_action_opens_quickly_cut_short_with_the_whole_as_a_download(
    server_url, log_in, transactional_db, tmp_path
):
    ReviewerGroupFactory(key="team", rank=1).members.add(UserFactory(username="tina", password=PASSWORD))
    agent, _ = agent_create(name="export-bot")
    context = {"numbers": [7] * 60_000, "tree": nested(60)}  # stored as anything taken before the limits was
    action = action_submit(agent=agent, action_type=ActionTypeFactory(key="export_records", payload_schema=None),
                           summary="Export the records", confidence=0.9, payload={"ids": list(range(200))},
                           context=context)  # fmt: skip
    assert action.reviewer_group == "team"

    started = time.monotonic()
    page = log_in("tina", next_path=f"/reviews/{action.pk}/")
    assert time.monotonic() - started < 10  # the login and the page; the page alone took 3 s before
    expect(page.locator("h1")).to_have_text("Export the records")

    payload = page.locator(".card.payload").first
    expect(payload.locator("li.more")).to_have_text("… and 150 more")
    expect(payload.locator("ol.items > li")).to_have_count(51)

    numbers = page.locator("details", has=page.locator("summary", has_text="Numbers (60000)"))
    numbers.locator("summary").click()
    expect(numbers.locator("li.more")).to_have_text("… and 59,950 more")
    expect(numbers.locator("ol.items > li")).to_have_count(51)

    tree = page.locator("details", has=page.locator("summary", has_text="Tree"))
    tree.locator("summary").click()
    expect(tree.get_by_text("(1 member, nested deeper than 8 levels)")).to_be_visible()
    expect(tree.get_by_text("the leaf")).to_have_count(0)

    with page.expect_download() as download:
        numbers.get_by_role("link", name="Download the full JSON").click()
    saved = tmp_path / "context.json"
    download.value.save_as(saved)
    assert download.value.suggested_filename == f"action-{action.pk}-context.json"
    assert json.loads(Path(saved).read_text()) == context
