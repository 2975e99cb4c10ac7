"""The action page's timeline: every audit event of the action in order, who did what, and what
changed, read from real flows (submit, claim, SLA sweep, plain-form decisions)."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import time_machine
from django.template.loader import render_to_string

from escalation.services import escalation_sweep
from hitl.services import action_submit, agent_create
from reviews.claims import claim_take, claim_take_over
from reviews.models import RejectReason
from reviews.services import review_decide, review_reassign
from reviews.timeline import action_timeline
from tests.conftest import page_form
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PAYLOAD = {"to": "jane@example.com", "subject": "Your refund", "body": "It is on its way."}


@pytest.fixture
def desk(db):
    """Team reviewer tina, lead leo, executive eve; an agent that submits a send_email action."""
    groups = {
        key: ReviewerGroupFactory(key=key, rank=rank) for key, rank in (("team", 1), ("lead", 2), ("executive", 3))
    }
    groups["finance"] = ReviewerGroupFactory(key="finance", kind="expertise", rank=0)
    people = {}
    for name, group in (("tina", "team"), ("leo", "lead"), ("eve", "executive"), ("fiona", "finance")):
        people[name] = UserFactory(username=name)
        groups[group].members.add(people[name])
    email = ActionTypeFactory()
    agent, _ = agent_create(name="support-bot")

    def submit(**facts):
        fields = {"payload": PAYLOAD, "confidence": 0.9, "summary": "Email Jane confirming her $40 refund"}
        return action_submit(agent=agent, action_type=email, **{**fields, **facts})

    return people, submit


def timeline_html(client, user, action) -> str:
    client.force_login(user)
    response = client.get(f"/reviews/{action.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    return html[html.index('<details class="card timeline"') : html.index("</details>", html.index('id="timeline"'))]


def events_shown(html: str) -> list[str]:
    """Each event's heading as the reader sees it: "Escalated by system · 2026-11-24 13:00:03 UTC"."""
    return [_text(item) for item in re.findall(r'<p class="event-head">(.*?)</p>', html, re.S)]


def _text(fragment: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def rows(table_html: str) -> list[list[str]]:
    return [[_text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr class=\"op-[a-z]+\">(.*?)</tr>", table_html, re.S)]  # fmt: skip


def item(html: str, n: int) -> str:
    """The n-th event of the timeline (from 0), as HTML."""
    return re.findall(r'<li class="event event-[a-z_]+">(.*?)</li>\s*(?=<li class="event|</ol>)', html, re.S)[n]


def test_the_timeline_tells_the_story_of_an_escalated_action_approved_with_edits(client, desk):
    people, submit = desk
    with time_machine.travel(T0, tick=False):
        action = submit()
        claim_take(reviewer=people["tina"], action_id=action.pk)
        escalation_sweep()  # announces it (not an audit event)
        assert 'id="timeline">' in timeline_html(client, people["tina"], action)  # folded while it waits
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        escalation_sweep()  # half the tier1 SLA: a warning; tina's 10-minute lease has run out
    with time_machine.travel(T0 + timedelta(hours=4, seconds=3), tick=False):
        escalation_sweep()  # 3 s past due: on to tier2, the lead's group
    with time_machine.travel(T0 + timedelta(hours=4, minutes=5), tick=False):
        claim_take(reviewer=people["leo"], action_id=action.pk)
        client.force_login(people["leo"])
        form = {**{f"payload/{k}": v for k, v in PAYLOAD.items()}, "payload/subject": "Your $40 refund"}
        response = client.post(f"/reviews/{action.pk}/decide", {"decision": "modify", **page_form(action), **form})
        assert response.status_code == 302
    html = timeline_html(client, people["leo"], action)

    assert 'id="timeline" open>' in html and "<summary>7 events, oldest first</summary>" in html
    assert events_shown(html) == [
        "Submitted by agent support-bot · 2026-11-24 09:00:00 UTC",
        "Claimed by reviewer tina · 2026-11-24 09:00:00 UTC",
        "SLA warning by system · 2026-11-24 11:00:00 UTC",
        "Released by system · 2026-11-24 11:00:00 UTC",
        "Escalated by system · 2026-11-24 13:00:03 UTC",
        "Claimed by reviewer leo · 2026-11-24 13:05:00 UTC",
        "Approved with edits by reviewer leo · 2026-11-24 13:05:00 UTC",
    ]
    assert '<time class="local" datetime="2026-11-24T13:00:03+00:00">' in item(html, 4)
    submitted, _, warned, released, escalated, _, decided = (item(html, n) for n in range(7))
    assert rows(submitted) == [["Tier", "", "tier1"], ["Route", "", "pre_action"], ["Status", "", "pending"]]
    assert '<dt>SLA used</dt><dd><span class="value">50 % of the SLA</span></dd>' in warned
    assert rows(released) == [["Holder", "tina", ""]] and "lease expired" in released
    assert '<dt>Late by</dt><dd><span class="value">3 s</span></dd>' in escalated
    assert rows(escalated) == [
        ["Tier", "tier1", "tier2"],
        ["Group", "team", "lead"],
        ["Due at", "2026-11-24 13:00:00 UTC", "2026-11-24 14:00:03 UTC"],
    ]
    status, edit = re.findall(r'<table class="diff[^"]*">.*?</table>', decided, re.S)
    assert rows(status) == [["Status", "pending", "approved"]]
    assert rows(edit) == [["Changed", "Subject", "Your refund", "Your $40 refund"]]
    assert "Approved by" in decided and "leo" in decided


def test_four_eyes_a_reassignment_a_take_over_and_a_rejection(client, desk):
    people, submit = desk
    ed = UserFactory(username="ed")
    ReviewerGroupFactory(key="executive").members.add(ed)
    RejectReason.objects.create(code="wrong_recipient", label="Wrong recipient")
    high = submit(compliance_risk=True)  # tier3: two executives must approve
    assert (high.route_tier, high.approvals_required) == ("tier3", 2)
    edit = {**PAYLOAD, "body": "It is on its way: 3 to 5 days."}
    review_decide(reviewer=people["eve"], action_id=high.pk, decision="modify", payload=edit)
    review_decide(reviewer=ed, action_id=high.pk, decision="approve")

    html = timeline_html(client, ed, high)
    assert [heading.split(" · ")[0] for heading in events_shown(html)] == [
        "Submitted by agent support-bot",
        "Claimed by reviewer eve",  # a decision goes through the claim
        "Approval with edits recorded by reviewer eve",
        "Claimed by reviewer ed",
        "Approved with eve's edits by reviewer ed",  # whose edit ran, and who approved it last
    ]
    recorded, decided = item(html, 2), item(html, 4)
    assert '<dt>Approvals</dt><dd><span class="value">1 of 2</span></dd>' in recorded
    body = ["Changed", "Body", "It is on its way.", "It is on its way: 3 to 5 days."]
    assert rows(recorded) == [body]  # eve's edit
    assert rows(decided)[-1] == body  # what ran: eve's edit, which ed approved
    assert "eve, ed" in decided

    low = submit()
    claim_take(reviewer=people["tina"], action_id=low.pk)
    claim_take_over(lead=people["leo"], action_id=low.pk)
    review_reassign(lead=people["leo"], action_id=low.pk, group_key="finance")
    review_decide(reviewer=people["fiona"], action_id=low.pk, decision="reject", reason="wrong_recipient",
                  comment="She asked for a call instead.")  # fmt: skip
    html = timeline_html(client, people["fiona"], low)
    assert [heading.split(" · ")[0] for heading in events_shown(html)] == [
        "Submitted by agent support-bot",
        "Claimed by reviewer tina",
        "Taken over by reviewer leo",
        "Reassigned by reviewer leo",
        "Claimed by reviewer fiona",
        "Rejected by reviewer fiona",
    ]
    assert rows(item(html, 2)) == [["Holder", "tina", "leo"]]
    assert rows(item(html, 3)) == [["Group", "team", "finance"]]
    rejected = item(html, 5)
    assert rows(rejected) == [["Status", "pending", "rejected"]]  # and no edit
    assert _text(rejected).count("Wrong recipient · She asked for a call instead.") == 1
    assert '<dt>Reason</dt><dd><span class="value">wrong_recipient</span></dd>' in rejected


def test_the_timeline_is_one_query_however_many_events(desk, django_assert_num_queries):
    people, submit = desk
    action = submit()
    claim_take(reviewer=people["tina"], action_id=action.pk)
    claim_take_over(lead=people["leo"], action_id=action.pk)
    claim_take_over(lead=people["eve"], action_id=action.pk)
    review_reassign(lead=people["eve"], action_id=action.pk, group_key="lead")
    review_decide(reviewer=people["leo"], action_id=action.pk, decision="modify", payload={**PAYLOAD, "body": "Soon."})
    action.refresh_from_db()
    with django_assert_num_queries(1):
        timeline = action_timeline(action)
        html = render_to_string("reviews/_timeline.html", {"timeline": timeline, "action": action})
    assert len(timeline) == 7 and [entry.event.seq for entry in timeline] == [1, 2, 3, 4, 5, 6, 7]
    assert {"tina", "leo", "eve"} <= set(re.findall(r'<strong class="actor">(\w+)</strong>', html))


def test_an_action_without_events_says_so_and_a_pruned_start_is_told(desk):
    people, submit = desk
    action = submit()
    claim_take(reviewer=people["tina"], action_id=action.pk)
    empty = render_to_string("reviews/_timeline.html", {"timeline": [], "action": action})
    assert "<summary>0 events, oldest first</summary>" in empty
    assert "No events are recorded for this action" in empty
    whole = action_timeline(action)
    assert "Earlier events were removed" not in render_to_string(
        "reviews/_timeline.html", {"timeline": whole, "action": action}
    )
    # Retention deletes a chain's oldest events: the first one left is not its first.
    pruned = render_to_string("reviews/_timeline.html", {"timeline": whole[1:], "action": action})
    assert "Earlier events were removed" in pruned and "Claimed" in pruned
