"""The queue page costs a fixed number of queries, however many actions wait (bench/queue_page.py times it)."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hitl.models import Action
from reviews.selectors import QueueFilters, queue_counts, queue_page, reviewer_scope

from .test_queue import world  # noqa: F401  (the fixture: four reviewers, four pending actions)


def page_queries(client, path, **headers):
    client.get(path, **headers)  # warm: the session, the cached policy
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, **headers)
    assert response.status_code == 200
    return len(captured), response


@pytest.mark.parametrize(
    "path,headers",
    [("/reviews/", {}), ("/reviews/", {"HTTP_HX_REQUEST": "true"}), ("/reviews/?tab=post", {})],
    ids=["page", "htmx-partial", "post-tab"],
)
def test_the_same_queries_with_3_and_with_60_waiting(client, world, path, headers):  # noqa: F811
    people, submit = world
    client.force_login(people["leo"])  # a lead: all of tier1 (a lower tier) and the lead group's own
    short, response = page_queries(client, path, **headers)
    assert response.context["counts"] == {"tiers": {"tier1": 2, "tier2": 1, "tier3": 0}, "post": 0}
    for i in range(57):
        submit(f"more {i}", confidence=0.9)
    long, response = page_queries(client, path, **headers)
    assert response.context["counts"]["tiers"] == {"tier1": 59, "tier2": 1, "tier3": 0}
    if "tab=post" not in path:
        assert len(response.context["rows"]) == 50 and response.context["next_cursor"]
    assert short == long


def test_the_queue_selectors_cost_one_query_each(world, django_assert_num_queries):  # noqa: F811
    """One for the page; one more for the verdicts of its rows that need several approvals (eve's
    queue holds a tier3 action: four-eyes)."""
    people, submit = world
    for i in range(60):
        submit(f"more {i}", confidence=0.5 if i % 3 else 0.9)  # tier2 (lead) and tier1 (team)
    now = timezone.now()
    for name in ("tina", "leo", "eve", "fiona"):
        scope = reviewer_scope(people[name])
        for tab in ("pre", "post"):
            with django_assert_num_queries(2 if (name, tab) == ("eve", "pre") else 1):
                rows, _ = queue_page(scope=scope, filters=QueueFilters(), now=now, tab=tab)
            assert [a.approvals.required for a in rows if a.approvals] == ([2] if (name, tab) == ("eve", "pre") else [])
        with django_assert_num_queries(1):  # every tier and the post-action tab
            queue_counts(scope=scope, now=now)


def test_pages_merge_every_part_of_the_scope_in_due_order(client, world):  # noqa: F811
    """An executive's queue is the union of tier1, tier2 and the executive group's tier3."""
    people, submit = world
    for i in range(70):
        submit(f"more {i}", confidence=[0.9, 0.5][i % 2], compliance_risk=i % 7 == 0)
    client.force_login(people["eve"])
    seen, cursor = [], None
    while True:
        response = client.get("/reviews/", {"after": cursor} if cursor else {})
        seen += response.context["rows"]
        cursor = response.context["next_cursor"]
        if not cursor:
            break
    expected = list(Action.objects.filter(status="pending").order_by("due_at", "id"))
    assert [a.pk for a in seen] == [a.pk for a in expected] and len(seen) == 74


def test_a_count_past_the_cap_shows_as_1000_plus(client, world):  # noqa: F811
    people, _ = world
    template = Action.objects.get(summary="tier1 email")
    copies = []
    for _ in range(1001):
        template.pk = uuid.uuid4()
        copies.append(Action(**{f.attname: getattr(template, f.attname) for f in Action._meta.concrete_fields}))
    Action.objects.bulk_create(copies)
    client.force_login(people["tina"])
    response = client.get("/reviews/")
    assert response.context["counts"]["tiers"] == {"tier1": "1000+", "tier2": 0, "tier3": 0}
    assert b"tier1 <strong>1000+</strong>" in response.content
