"""The reviewer's queue: exactly what their groups and seniority allow, most urgent first."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hitl.services import action_submit, agent_create
from reviews.models import ReviewerGroup
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory


@pytest.fixture
def world(db):
    groups = {
        key: ReviewerGroupFactory(key=key, rank=rank) for key, rank in (("team", 1), ("lead", 2), ("executive", 3))
    }
    groups["finance"] = ReviewerGroupFactory(key="finance", kind="expertise", rank=0)
    people = {}
    for name, group in (("tina", "team"), ("leo", "lead"), ("eve", "executive"), ("fiona", "finance")):
        people[name] = UserFactory(username=name)
        groups[group].members.add(people[name])
    email = ActionTypeFactory(payload_schema=None)
    refund = ActionTypeFactory(key="issue_refund", payload_schema=None, reviewer_group="finance")
    agent, _ = agent_create(name="bot")

    def submit(summary, *, action_type=email, **facts):
        return action_submit(agent=agent, action_type=action_type, payload={}, summary=summary, **facts)

    submit("tier1 email", confidence=0.9)
    submit("tier2 email", confidence=0.5)
    submit("tier3 email", confidence=0.9, compliance_risk=True)
    submit("finance refund", action_type=refund, confidence=0.9)
    return people, submit


def summaries(client, user, query=""):
    client.force_login(user)
    response = client.get(f"/reviews/{query}")
    assert response.status_code == 200
    return {a.summary for a in response.context["rows"]}, response


@pytest.mark.parametrize(
    "who,sees",
    [
        ("tina", {"tier1 email"}),
        ("leo", {"tier1 email", "tier2 email", "finance refund"}),  # tier1 items, whatever their group
        ("eve", {"tier1 email", "tier2 email", "tier3 email", "finance refund"}),
        ("fiona", {"finance refund"}),
    ],
)
def test_each_reviewer_sees_exactly_their_scope(client, world, who, sees):
    people, _ = world
    assert summaries(client, people[who])[0] == sees


def test_a_reviewer_can_decide_exactly_what_they_see(client, world):
    from hitl.models import Action

    people, _ = world
    client.force_login(people["tina"])
    tier2 = Action.objects.get(summary="tier2 email")
    response = client.post(
        f"/api/v1/actions/{tier2.pk}/decision", {"decision": "approve"}, content_type="application/json"
    )
    assert response.status_code in (403, 404)  # CSRF-protected session write, or not in scope: never decided
    tier2.refresh_from_db()
    assert tier2.status == "pending"


def test_most_urgent_first_with_counts_and_filters(client, world):
    people, _ = world
    rows, response = summaries(client, people["eve"])
    dues = [a.due_at for a in response.context["rows"]]
    assert dues == sorted(dues)
    assert response.context["rows"][0].summary == "tier3 email"  # 15 minutes beats 1 and 4 hours
    assert response.context["counts"] == {"tiers": {"tier1": 2, "tier2": 1, "tier3": 1}, "post": 0}
    assert summaries(client, people["eve"], "?tier=tier1")[0] == {"tier1 email", "finance refund"}
    assert summaries(client, people["eve"], "?type=issue_refund")[0] == {"finance refund"}
    assert summaries(client, people["eve"], "?group=finance&tier=tier3")[0] == set()


def test_keyset_pages_cover_the_queue_once(client, world):
    people, submit = world
    for i in range(60):
        submit(f"bulk {i}", confidence=0.9)
    client.force_login(people["tina"])
    first = client.get("/reviews/")
    seen = [a.pk for a in first.context["rows"]]
    assert len(seen) == 50 and first.context["next_cursor"]
    second = client.get("/reviews/", {"after": first.context["next_cursor"]})
    seen += [a.pk for a in second.context["rows"]]
    assert len(seen) == 61 == len(set(seen)) and not second.context["next_cursor"]


def test_the_queue_costs_the_same_queries_whatever_its_length(client, world):
    people, submit = world
    client.force_login(people["eve"])
    client.get("/reviews/")
    with CaptureQueriesContext(connection) as short:
        client.get("/reviews/")
    for i in range(80):
        submit(f"more {i}", confidence=0.9)
    with CaptureQueriesContext(connection) as long:
        assert len(client.get("/reviews/").context["rows"]) == 50
    assert len(short) == len(long)


def test_a_tampered_page_link_is_refused(client, world):
    people, _ = world
    client.force_login(people["eve"])
    response = client.get("/reviews/", {"after": "yesterday|not-a-uuid"})
    assert response.status_code == 400
    assert b"That page link is not valid" in response.content


def test_an_empty_queue_says_so_and_anonymous_users_log_in(client, db):
    assert client.get("/reviews/").status_code == 302
    newcomer = UserFactory(username="new")
    client.force_login(newcomer)
    assert b"You are not in any reviewer group, so nothing waits for you here." in client.get("/reviews/").content
    ReviewerGroup.objects.get(key="team").members.add(newcomer)
    assert b"Nothing is waiting for you" in client.get("/reviews/").content


def test_rows_show_who_holds_them(client, world):
    from hitl.models import Action
    from reviews.claims import claim_take

    people, _ = world
    claim_take(reviewer=people["leo"], action_id=Action.objects.get(summary="tier2 email").pk)
    _, response = summaries(client, people["eve"])
    held = {a.summary: a.claim.holder.username for a in response.context["rows"] if hasattr(a, "claim")}
    assert held == {"tier2 email": "leo"}
    assert b"nobody" in response.content


def test_the_partial_is_served_to_htmx(client, world):
    people, _ = world
    client.force_login(people["tina"])
    response = client.get("/reviews/", HTTP_HX_REQUEST="true")
    assert b"<html" not in response.content and b"tier1 email" in response.content


def test_four_eyes_rows_show_their_progress_and_leave_the_list_of_who_approved(client, world):
    from hitl.models import Action
    from reviews.services import review_decide

    people, _ = world
    ed = UserFactory(username="ed")
    ReviewerGroup.objects.get(key="executive").members.add(ed)
    tier3 = Action.objects.get(summary="tier3 email")
    review_decide(reviewer=people["eve"], action_id=tier3.pk, decision="approve")
    seen_by_eve, response = summaries(client, people["eve"])
    assert "tier3 email" not in seen_by_eve  # she approved it: not hers to decide any more
    assert response.context["counts"]["tiers"]["tier3"] == 0
    seen_by_ed, response = summaries(client, ed)
    assert "tier3 email" in seen_by_ed
    assert '<strong class="approvals">1 of 2 approvals: eve</strong>' in response.content.decode()


def test_held_by_me_sorting_and_filters_by_prefix_or_from_lists(client, world):
    from hitl.models import Action
    from reviews.claims import claim_take

    people, submit = world
    submit("hesitant email", confidence=0.61)
    claim_take(reviewer=people["eve"], action_id=Action.objects.get(summary="tier2 email").pk)
    assert summaries(client, people["eve"], "?held=me")[0] == {"tier2 email"}
    assert b"You hold no action right now." in summaries(client, people["tina"], "?held=me")[1].content

    _, response = summaries(client, people["eve"], "?sort=confidence")
    confidences = [a.confidence for a in response.context["rows"]]
    assert confidences == sorted(confidences) and confidences[0] == 0.5
    _, response = summaries(client, people["eve"], "?sort=newest")
    assert response.context["rows"][0].summary == "hesitant email"
    _, response = summaries(client, people["eve"], "?sort=oldest")
    assert response.context["rows"][0].summary == "tier1 email"

    assert summaries(client, people["eve"], "?agent=bo")[0] == summaries(client, people["eve"])[0]  # "bot"
    assert summaries(client, people["eve"], "?agent=demo")[0] == set()
    html = response.content.decode()
    assert '<option value="bot">' in html  # the agents present, to pick from
    assert "<option>finance</option>" not in summaries(client, people["tina"])[1].content.decode()  # her groups


def test_a_sorted_queue_pages_through_once(client, world):
    people, submit = world
    for i in range(60):
        submit(f"bulk {i}", confidence=0.6 + i / 1000)
    client.force_login(people["tina"])
    seen, cursor = [], None
    while True:
        response = client.get("/reviews/", {"sort": "confidence", **({"after": cursor} if cursor else {})})
        seen += response.context["rows"]
        cursor = response.context["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 61 == len({a.pk for a in seen})
    assert [a.confidence for a in seen] == sorted(a.confidence for a in seen)


def test_a_post_action_verdict_returns_to_the_post_action_tab(client, world):
    from tests.conftest import page_form

    people, submit = world
    reversible = ActionTypeFactory(key="tag_ticket", irreversible=False, payload_schema=None)
    submit("warm-up", action_type=reversible, confidence=0.99)
    ran = submit("Tag ticket urgent", action_type=reversible, confidence=0.65)
    client.force_login(people["tina"])
    response = client.post(f"/reviews/{ran.pk}/decide", {**page_form(ran), "decision": "confirm"})
    assert response.status_code == 302 and response["Location"] == "/reviews/?tab=post"
