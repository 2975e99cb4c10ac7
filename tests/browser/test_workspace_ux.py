"""The workspace as reviewers use it in Chromium: on a phone, four-eyes progress and a lead's
take-over in the queue, and errors that go once the reviewer fixes the form."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from audit.export import auditors_group
from hitl.models import Action
from reviews.claims import claim_take
from reviews.services import review_decide
from tests.factories import ReviewerGroupFactory, UserFactory

from .conftest import PASSWORD, PUSH, live

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
SHOTS = Path(os.environ.get("HITL_SCREENSHOTS", "")) if os.environ.get("HITL_SCREENSHOTS") else None


def shot(page, name):
    """Screenshots for people to look at, when HITL_SCREENSHOTS names a folder."""
    if SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def staff(db):
    """tina and tom (team), leo (lead), eve and ed (executive, four-eyes), audrey (auditor)."""
    groups = {key: ReviewerGroupFactory(key=key, rank=rank) for key, rank in (("team", 1), ("lead", 2),
                                                                               ("executive", 3))}  # fmt: skip
    people = {name: UserFactory(username=name, password=PASSWORD) for name in ("tina", "tom", "leo", "eve", "ed")}
    groups["team"].members.add(people["tina"], people["tom"])
    groups["lead"].members.add(people["leo"])
    groups["executive"].members.add(people["eve"], people["ed"])
    UserFactory(username="audrey", password=PASSWORD).groups.add(auditors_group())
    return people


@pytest.fixture
def any_submit(server_url, agent_and_token, email_type):
    import httpx

    from tests.conftest import submit_body

    def send(**overrides):
        response = httpx.post(f"{server_url}/api/v1/actions", json=submit_body(**overrides),
                              headers={"Authorization": f"Bearer {agent_and_token[1]}"})  # fmt: skip
        assert response.status_code == 201, response.text
        return response.json()

    return send


def no_sideways_scroll(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{page.url} is {width}px wide at 390px"


def test_at_phone_width_nothing_pushes_the_page_sideways_and_the_risk_comes_before_the_buttons(
    server_url,
    log_in,
    staff,
    any_submit,
):
    long = "A very long summary " * 8
    actions = [any_submit(summary=f"{long}{n}", payload={"to": "jane.with.a.long.address@example.com",
                                                           "subject": "Refund " * 20, "body": "x" * 400})
               for n in range(3)]  # fmt: skip
    any_submit(summary="Delete stale sessions", compliance_risk=True)

    tina = log_in("tina", **PHONE)
    expect(tina.locator("#queue-rows tr")).to_have_count(3)
    no_sideways_scroll(tina)
    expect(tina.locator("form.filters select[name=sort]")).to_be_in_viewport()
    expect(tina.locator("kbd").first).to_be_hidden()  # shortcut hints are for keyboards
    shot(tina, "phone-queue")

    tina.goto(f"{server_url}/activity/")
    expect(tina.locator("table.activity tr")).to_have_count(4)  # the header and her three
    no_sideways_scroll(tina)
    shot(tina, "phone-activity")

    tina.goto(f"{server_url}/reviews/{actions[0]['id']}/")
    no_sideways_scroll(tina)
    risk = tina.locator(".part-risk").bounding_box()
    approve = tina.locator("#approve").bounding_box()
    assert risk["y"] + risk["height"] <= approve["y"], (risk, approve)
    # The diff of an edit keeps to its box, a long URL and all.
    tina.get_by_text("Edit before approving").click()
    tina.locator("[name='payload/subject']").fill("See https://billing.example.com/refunds/8842-2231?lang=en&ref=mail")
    diff = tina.locator("#diff table.diff")
    expect(diff).to_be_visible(timeout=5000)
    box, table = tina.locator("details.edit").bounding_box(), diff.bounding_box()
    assert table["x"] + table["width"] <= box["x"] + box["width"] + 1, (table, box)
    no_sideways_scroll(tina)
    if SHOTS:
        tina.locator("details.edit").screenshot(path=str(SHOTS / "phone-edit.png"))
    shot(tina, "phone-action")

    audrey = log_in("audrey", next_path="/audit/", **PHONE)
    expect(audrey.locator("table.audit tbody tr").first).to_be_visible()
    no_sideways_scroll(audrey)
    shot(audrey, "phone-audit")


def test_four_eyes_progress_and_a_take_over_reach_the_queues_live(server_url, log_in, staff, any_submit):
    wire = any_submit(summary="Wire $1M to the treasury", compliance_risk=True)  # tier3: two approvals
    eve, ed = live(log_in("eve")), live(log_in("ed"))
    row = f"#row-{wire['id']}"
    expect(eve.locator(row)).to_be_visible()
    review_decide(reviewer=staff["eve"], action_id=wire["id"], decision="approve")
    expect(eve.locator(row)).to_have_count(0, timeout=PUSH)  # she approved it: off her list
    expect(ed.locator(row)).to_contain_text("1 of 2 approvals: eve", timeout=PUSH)
    shot(ed, "queue-four-eyes")

    email = any_submit(summary="Email Jane about order 881")
    tina = log_in("tina", next_path=f"/reviews/{email['id']}/")
    tina.get_by_role("button", name="Claim").click()
    expect(tina.locator("#claim")).to_contain_text("You hold this action")
    live(tina)
    leo = log_in("leo", next_path=f"/reviews/{email['id']}/")
    leo.get_by_role("button", name="Take over").click()
    expect(leo.locator("#claim")).to_contain_text("You hold this action")
    # tina's open page is told at once, and shows who holds it now.
    expect(tina.get_by_role("status").filter(has_text="leo took over")).to_be_visible(timeout=PUSH * 2)
    expect(tina.locator("#claim")).to_contain_text("Held by leo")
    expect(tina.locator("#claim")).not_to_contain_text("You hold this action")
    expect(tina.locator("#decide")).to_have_count(0)
    shot(tina, "taken-over")


def test_held_by_me_and_sorting_in_the_queue(server_url, log_in, staff, any_submit):
    low = any_submit(summary="Low confidence email", confidence=0.62)
    high = any_submit(summary="High confidence email", confidence=0.84)
    claim_take(reviewer=staff["tina"], action_id=high["id"])
    tina = log_in("tina")
    tina.get_by_label("Sort").select_option("confidence")
    tina.get_by_role("button", name="Filter").click()
    expect(tina.locator("#queue-rows tr").first).to_have_id(f"row-{low['id']}")
    tina.get_by_label("held by me").check()
    tina.get_by_role("button", name="Filter").click()
    expect(tina.locator("#queue-rows tr")).to_have_count(1)
    expect(tina.locator("#queue-rows tr").first).to_have_id(f"row-{high['id']}")


def test_a_refusal_shown_on_the_form_goes_once_the_reviewer_edits_it(server_url, log_in, staff, any_submit):
    action = any_submit(summary="Email Jane about her refund", payload={"to": "jane@example.com",
                                                                        "subject": "Your refund"})  # fmt: skip
    tina = log_in("tina", next_path=f"/reviews/{action['id']}/")
    tina.get_by_text("Edit before approving").click()
    tina.locator("[name='payload/to']").fill("not an address")
    tina.locator("#approve").click()
    alert = tina.get_by_role("alert")
    expect(alert).to_contain_text("To: 'not an address' is not a 'email'")
    expect(tina.get_by_text("is not a 'email'")).to_have_count(2)  # on top, and by the field
    tina.locator("[name='payload/to']").fill("jane.park@example.com")
    expect(alert).to_have_count(0)
    expect(tina.locator("label.field .errorlist")).to_have_count(0)
    tina.locator("#approve").click()
    expect(tina).to_have_url(f"{server_url}/reviews/")
    assert Action.objects.get(pk=action["id"]).final_payload["to"] == "jane.park@example.com"


def test_toasts_float_at_most_four_and_a_notice_to_oneself_outlasts_group_news(server_url, log_in, staff, any_submit):
    from reviews import realtime

    tina = live(log_in("tina"))
    realtime.broadcast_notice_on_commit([staff["tina"].pk], "leo took over something from you", "/reviews/",
                                        action_id="00000000-0000-0000-0000-000000000000")  # fmt: skip
    expect(tina.locator("ul.toasts li.notice-mine")).to_have_count(1, timeout=PUSH)
    for n in range(6):
        realtime.broadcast_toast_on_commit("team", f"New item waiting: email {n}", "/reviews/")
    expect(tina.locator("ul.toasts li.notice-group").last).to_contain_text("email 5", timeout=PUSH)
    expect(tina.locator("ul.toasts li")).to_have_count(4)  # the newest group news, and the notice
    expect(tina.locator("ul.toasts li.notice-mine")).to_contain_text("leo took over")
    assert tina.locator("ul.toasts").evaluate("e => getComputedStyle(e).position") == "fixed"
