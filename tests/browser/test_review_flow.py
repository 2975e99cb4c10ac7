"""The reviewer workspace end to end: two reviewers' live queues, a claim, an edited approval the
agent's long-poll sees, keyboard and no-JavaScript decisions, and a queue that repairs a missed push."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import expect

from hitl.models import Action
from tests.conftest import submit_body
from tests.factories import ReviewerGroupFactory, UserFactory

from .conftest import PASSWORD, PUSH, live


@pytest.fixture
def team(db):
    """Two team reviewers (group "team", rank 1)."""
    group = ReviewerGroupFactory(key="team", rank=1)
    people = [UserFactory(username=name, password=PASSWORD) for name in ("tina", "tom")]
    group.members.add(*people)
    return people


@pytest.fixture
def submit(server_url, agent_and_token, email_type):
    """The agent submits an action over HTTP to the running server; returns its JSON."""

    def submit(**overrides):
        response = httpx.post(
            f"{server_url}/api/v1/actions",
            json=submit_body(**overrides),
            headers={"Authorization": f"Bearer {agent_and_token[1]}"},
        )
        assert response.status_code == 201, response.text
        action = response.json()
        assert (action["status"], action["route"]["tier"], action["route"]["reviewer_group"]) == (
            "pending", "tier1", "team",
        ), action  # fmt: skip
        return action

    return submit


@pytest.fixture
def agent_get(server_url, agent_and_token):
    def get(action_id, *, wait=0):
        return httpx.get(
            f"{server_url}/api/v1/actions/{action_id}",
            params={"wait": wait} if wait else None,
            headers={"Authorization": f"Bearer {agent_and_token[1]}"},
            timeout=wait + 10,
        )

    return get


def until(page, condition, message, timeout=10):
    """Wait for a condition of this process, letting Playwright run route handlers meanwhile."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        page.wait_for_timeout(50)


def test_two_live_queues_a_claim_and_an_edited_approval_the_agent_long_polls_for(
    server_url, log_in, team, submit, agent_get
):
    queue_a = live(log_in("tina"))
    queue_b = live(log_in("tom"))
    expect(queue_a.get_by_text("Nothing is waiting for you.")).to_be_visible()

    # The agent submits after both pages loaded: both queues show the row without a reload.
    action = submit(summary="Email Jane confirming her $40 refund")
    row_id = f"#row-{action['id']}"
    expect(queue_a.locator(row_id)).to_be_visible(timeout=PUSH)
    expect(queue_b.locator(row_id)).to_be_visible(timeout=PUSH)
    expect(queue_b.locator(row_id)).to_contain_text("Email Jane confirming her $40 refund")
    expect(queue_b.locator(f"{row_id} td.holder")).to_have_text("nobody")

    # A opens it and claims it; B's row names A as the holder (pushed).
    page_a = queue_a
    page_a.locator(row_id).get_by_role("link", name="Email Jane confirming her $40 refund").click()
    expect(page_a).to_have_url(f"{server_url}/reviews/{action['id']}/")
    page_a.get_by_role("button", name="Claim").click()
    expect(page_a.locator("#claim")).to_contain_text("You hold this action")
    page_a.wait_for_load_state()  # htmx, which sends the edit for its diff, has run
    expect(queue_b.locator(f"{row_id} td.holder")).to_have_text("tina", timeout=PUSH)

    # The agent is already waiting on the long-poll while A edits and approves.
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        long_poll = pool.submit(agent_get, action["id"], wait=10)

        page_a.get_by_text("Edit before approving").click()
        subject = page_a.locator("[name='payload/subject']")
        expect(subject).to_have_value("Your refund")
        subject.fill("Your $40 refund is on its way")
        diff = page_a.locator("#diff")
        expect(diff.locator("tr.op-replace")).to_contain_text("Subject", timeout=5000)
        expect(diff.locator("del")).to_have_text("Your refund")
        expect(diff.locator("ins")).to_have_text("Your $40 refund is on its way")
        assert Action.objects.get(pk=action["id"]).status == "pending"  # the diff sent nothing
        assert not long_poll.done(), long_poll.result().text

        # The one Approve button now says it sends the edit; pressing it does.
        approve = page_a.locator("#approve")
        expect(approve).to_contain_text("Approve with your edits (1 change)")
        approve.click()
        expect(page_a).to_have_url(f"{server_url}/reviews/")
        expect(page_a.get_by_role("status")).to_contain_text(
            "Approved with your edits: Email Jane confirming her $40 refund"
        )

        # B's queue drops the row, without a reload.
        expect(queue_b.locator(row_id)).to_have_count(0, timeout=5000)

        # The agent's long-poll woke with the decision and the edited payload.
        response = long_poll.result(timeout=15)
        waited = time.monotonic() - started
    assert response.status_code == 200, response.text
    decided = response.json()
    assert decided["status"] == "approved"
    assert (decided["decision"]["decision"], decided["decision"]["by"]) == ("modified", "tina")
    assert decided["final_payload"] == {**submit_body()["payload"], "subject": "Your $40 refund is on its way"}
    assert waited < 10, f"the long-poll ran out ({waited:.1f}s) instead of waking on the decision"
    assert agent_get(action["id"]).json()["final_payload"] == decided["final_payload"]


def test_the_a_key_approves_and_a_reviewer_without_javascript_rejects_with_a_reason(server_url, log_in, team, submit):
    first = submit(summary="Email Jane about order 881")
    second = submit(summary="Email John about order 882")

    # "a" on the action page presses Approve; the email cannot be unsent, so it asks once first.
    page = log_in("tina", next_path=f"/reviews/{first['id']}/")
    expect(page.get_by_role("button", name="Approve a")).to_be_visible()
    page.keyboard.press("a")
    dialog = page.locator("dialog#confirm-approve")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("it cannot be undone")
    assert Action.objects.get(pk=first["id"]).status == "pending"
    page.keyboard.press("Enter")  # its Approve button has the focus
    expect(page).to_have_url(f"{server_url}/reviews/")
    expect(page.get_by_role("status")).to_contain_text("Approved: Email Jane about order 881")
    approved = Action.objects.get(pk=first["id"])
    assert (approved.status, approved.decision, approved.decided_by.username) == ("approved", "approved", "tina")

    # Without JavaScript, the queue, the action page and a rejection all work as plain HTML.
    plain = log_in("tom", java_script_enabled=False)
    expect(plain.locator("body")).not_to_have_attribute("data-live", "1")
    expect(plain.locator(f"#row-{first['id']}")).to_have_count(0)
    plain.get_by_role("link", name="Email John about order 882").click()
    expect(plain).to_have_url(f"{server_url}/reviews/{second['id']}/")
    plain.get_by_role("button", name="Reject").click()  # no reason: refused, nothing changes
    expect(plain.get_by_role("alert")).to_contain_text("A rejection needs a reason.")
    assert Action.objects.get(pk=second["id"]).status == "pending"
    plain.locator("textarea[name=comment]").fill("Wrong customer: John closed his account")
    plain.get_by_role("button", name="Reject").click()
    expect(plain).to_have_url(f"{server_url}/reviews/")
    expect(plain.get_by_role("status")).to_contain_text("Rejected: Email John about order 882")
    rejected = Action.objects.get(pk=second["id"])
    assert (rejected.status, rejected.decision, rejected.decided_by.username) == ("rejected", "rejected", "tom")
    assert rejected.decision_comment == "Wrong customer: John closed his account"
    expect(plain.get_by_text("Nothing is waiting for you.")).to_be_visible()


def test_a_queue_that_missed_a_push_while_its_socket_was_down_shows_the_row_once_it_reconnects(
    server_url, log_in, team, submit
):
    # Chromium's offline emulation (context.set_offline) leaves an open websocket alone, so the
    # outage is made on the socket itself: the page's socket is proxied to the real server, the
    # proxy drops it, and refuses the page's reconnection attempts until the outage ends.
    outage = {"on": False, "refused": 0, "sockets": []}

    def proxy(socket):
        if outage["on"]:
            outage["refused"] += 1
            socket.close(code=1011, reason="outage")
        else:
            socket.connect_to_server()
            outage["sockets"].append(socket)

    queue = live(log_in("tina", route_sockets=proxy))
    outage["on"] = True
    outage["sockets"][-1].close(code=1011, reason="outage")
    expect(queue.locator("body")).not_to_have_attribute("data-live", "1", timeout=5000)
    expect(queue.locator("#live")).to_have_text("reconnecting…")

    action = submit(summary="Email Jane while the reviewer's socket is down")
    refused = outage["refused"]
    until(queue, lambda: outage["refused"] > refused, "the page did not try to reconnect")
    row = queue.locator(f"#row-{action['id']}")
    expect(row).to_have_count(0)  # the push had no socket to arrive on

    outage["on"] = False
    live(queue)
    expect(row).to_be_visible(timeout=5000)  # re-fetched on reconnecting
    expect(row).to_contain_text("Email Jane while the reviewer's socket is down")


def test_a_push_that_arrives_while_the_queue_re_fetches_its_rows_is_kept(server_url, log_in, team, submit):
    # The re-fetch a page makes when its socket opens is answered late: its rows were rendered
    # before the agent's submit, whose push reaches the page first.
    late = []

    def answer_late(route):
        if route.request.headers.get("hx-request"):
            late.append((route, route.fetch()))  # rendered now, delivered when the test says
        else:
            route.continue_()

    queue = log_in("tina", route_pages=("**/reviews/", answer_late))
    live(queue)
    until(queue, lambda: late, "the page did not re-fetch its rows on connecting")
    action = submit(summary="Email Jane during the re-fetch")
    row = queue.locator(f"#row-{action['id']}")
    expect(row).to_be_visible(timeout=PUSH)

    queue.evaluate("document.getElementById('queue-rows').dataset.before = '1'")
    route, response = late.pop()
    route.fulfill(response=response)
    expect(queue.locator("#queue-rows:not([data-before])")).to_be_attached()  # the late rows are in
    expect(row).to_be_visible()
    expect(queue.get_by_text("Nothing is waiting for you.")).to_have_count(0)


def test_an_open_action_page_renews_its_claim_and_leaving_it_gives_the_claim_back(log_in, submit, team, server_url):
    from datetime import timedelta

    from django.utils import timezone

    from reviews.models import Claim

    action = submit()
    tina = log_in("tina", next_path=f"/reviews/{action['id']}/")
    tina.clock.install()  # the page's timers run on a clock the test moves
    tina.reload()
    tina.click("text=Claim")
    expect(tina.locator("#claim")).to_contain_text("You hold this action")
    Claim.objects.filter(action_id=action["id"]).update(expires_at=timezone.now() + timedelta(seconds=30))
    tina.clock.fast_forward("01:05")  # past the page's one-minute renewal
    deadline = time.monotonic() + 5
    while Claim.objects.get(action_id=action["id"]).expires_at < timezone.now() + timedelta(minutes=5):
        assert time.monotonic() < deadline, "the open page did not renew its lease"
        time.sleep(0.05)
    tina.goto(f"{server_url}/reviews/")  # leaves without deciding
    deadline = time.monotonic() + 5
    while Claim.objects.filter(action_id=action["id"]).exists():
        assert time.monotonic() < deadline, "leaving the page did not release the claim"
        time.sleep(0.05)


def test_times_on_the_action_page_show_in_the_readers_time_zone(log_in, submit, team):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from reviews.models import Claim

    def shown_locally(time_element, pattern):
        at = datetime.fromisoformat(time_element.get_attribute("datetime"))
        expect(time_element).to_have_text(f"{at.astimezone(ZoneInfo('Asia/Tokyo')):{pattern}} GMT+9")
        return at

    action = submit()
    tina = log_in("tina", next_path=f"/reviews/{action['id']}/", timezone_id="Asia/Tokyo", locale="en-GB")
    tina.clock.install()  # the claim's renewal runs on a clock the test moves
    tina.reload()
    events = tina.locator("#timeline time.local")
    expect(events).to_have_count(1)  # the submit
    at = shown_locally(events, "%d/%m/%Y, %H:%M:%S")
    assert events.get_attribute("title") == f"{at:%Y-%m-%d %H:%M:%S} UTC"  # what the server rendered
    shown_locally(tina.locator("header time.local, .muted time.local").first, "%d/%m/%Y, %H:%M:%S")

    tina.click("text=Claim")
    expect(tina.locator("#claim")).to_contain_text("You hold this action")
    held_until = tina.locator("#claim time.local")
    first = shown_locally(held_until, "%H:%M")
    assert first == Claim.objects.get(action_id=action["id"]).expires_at
    assert held_until.get_attribute("title") == f"{first:%H:%M} UTC"

    before = held_until.get_attribute("datetime")
    tina.clock.fast_forward("01:05")  # htmx renews the lease and swaps the claim part in again
    expect(held_until).not_to_have_attribute("datetime", before)
    assert shown_locally(held_until, "%H:%M") > first  # the new part is localized too
