"""Preference learning: what reviewers change in their edits, mined from the stored JSON Patches:
a planted pattern is found with its support, size and held-out agreement; a field moved either way
and a pattern short of the minimum support are not reported; the guidance and who may read it."""

import random
from datetime import UTC, datetime, timedelta

import jsonpatch
import pytest
from django.contrib.auth import get_user_model

from calibration.preferences import Change, changes_of, guidance, preferences
from calibration.services import label_record
from hitl.models import Action
from hitl.services import agent_create
from hitl.states import RoutePattern, Status
from tests.conftest import bearer_client
from tests.factories import ActionTypeFactory, UserFactory

START = datetime(2026, 2, 1, tzinfo=UTC)


def test_each_patch_operation_is_one_kind_of_change():
    before = {"amount": 40, "note": "hi", "tags": ["a"], "meta": {"priority": 2}}
    patch = [
        {"op": "replace", "path": "/amount", "value": 30},
        {"op": "replace", "path": "/note", "value": "hello"},
        {"op": "add", "path": "/cc", "value": "boss@example.com"},
        {"op": "add", "path": "/note", "value": "again"},  # the last op on a field wins: an add over it
        {"op": "remove", "path": "/tags"},
        {"op": "replace", "path": "/meta/priority", "value": 3},
    ]
    assert changes_of(patch, before) == [
        Change("/amount", "lowered", -0.25),
        Change("/note", "changed"),
        Change("/cc", "added"),
        Change("/tags", "removed"),
        Change("/meta/priority", "raised", 0.5),
    ]
    assert changes_of([{"op": "replace", "path": "/flag", "value": False}], {"flag": True}) == [
        Change("/flag", "changed")  # a boolean is not a number to lower
    ]


@pytest.fixture
def edits(db):
    refund = ActionTypeFactory(key="issue_refund", payload_schema=None, irreversible=False)
    agent, token = agent_create(name="billing-bot")
    people = [UserFactory(username=n) for n in ("fiona", "frank")]
    seq = iter(range(10_000))

    def edit(before: dict, after: dict, *, reviewer=None, at=None):
        n = next(seq)
        action = Action.objects.create(
            agent=agent, action_type=refund, payload=before, summary=f"Refund #{n}", confidence=0.8,
            irreversible=False, compliance_risk=False, status=Status.APPROVED, route_pattern=RoutePattern.PRE_ACTION,
            route_tier="tier1", reviewer_group="finance", route_threshold=0.7, created_at=START + timedelta(hours=n),
        )  # fmt: skip
        patch = jsonpatch.make_patch(before, after).patch
        label_record(action=action, verdict="modified", reviewer=reviewer or people[n % 2],
                     decided_at=at or START + timedelta(hours=n, minutes=5), edit=after, patch=patch)  # fmt: skip

    return edit, people, token


def test_a_planted_pattern_is_found_and_noise_is_not(edits):
    edit, people, _ = edits
    rng = random.Random(4)
    cuts = []
    for _ in range(60):  # reviewers lower the amount by 15 to 35 %; move the priority either way
        amount = rng.randint(40, 400)
        cut = rng.uniform(0.15, 0.35)
        cuts.append(cut)
        after = {"amount": round(amount * (1 - cut), 2), "priority": 2 + (1 if rng.random() < 0.5 else -1)}
        edit({"amount": amount, "priority": 2, "reason": "late"}, {**after, "reason": "late"})

    patterns, candidates = preferences()

    (everyone,) = [p for p in patterns if p.reviewer is None]
    assert (everyone.action_type, everyone.path, everyone.kind) == ("issue_refund", "/amount", "lowered")
    assert (everyone.support, everyone.edits, everyone.share) == (42, 42, 1.0)  # the earlier 70 % of 60
    assert everyone.median_change == pytest.approx(-sorted(cuts[:42])[20:22][0], abs=0.02)
    assert (everyone.agreement, everyone.checked) == (1.0, 18)  # every later edit lowers it too
    assert all(p.path != "/priority" for p in patterns)  # raised half the time, lowered half: no pattern
    assert {p.reviewer for p in patterns if p.reviewer} == {"fiona", "frank"}  # 21 examples each
    assert candidates == []
    assert everyone.text.startswith("issue_refund: reviewers lowered `amount` in 100% of their edits (42 of 42), by ")
    assert "held-out agreement 1.00 over 18 later edits" in guidance(patterns)


def test_a_pattern_short_of_the_minimum_support_is_not_reported_and_says_what_it_needs(edits):
    edit, people, _ = edits
    for _ in range(27):  # 70 % of 27: 18 to learn from, 2 short of 20
        edit({"amount": 100}, {"amount": 80}, reviewer=people[0])
    patterns, candidates = preferences()
    assert patterns == []
    assert [(c.path, c.kind, c.support, c.needed) for c in candidates] == [("/amount", "lowered", 18, 2)]
    assert guidance(patterns) == "No reviewer preferences have enough examples yet.\n"


def test_admins_and_agents_read_the_guidance_others_may_not(edits, client):
    edit, people, token = edits
    for _ in range(40):
        edit({"amount": 100}, {"amount": 70})
    admin = get_user_model().objects.create_user("root", password="pw", is_staff=True)
    client.force_login(admin)
    rows = client.get("/api/v1/preferences", {"action_type": "issue_refund"}).json()
    assert [(r["field"], r["change"], r["reviewer"]) for r in rows][0] == ("/amount", "lowered", None)
    assert rows[0]["median_change"] == pytest.approx(-0.3) and rows[0]["support"] == 28
    page = client.get("/calibration/preferences/")
    assert page.status_code == 200 and b"reviewers lowered `amount` in 100% of their edits (28 of 28)" in page.content

    text = bearer_client(token).get("/api/v1/preferences", {"format": "text"})  # the agent, for its prompt
    assert text.status_code == 200 and text["Content-Type"] == "text/plain; charset=utf-8"
    assert text.content.decode().startswith("What reviewers change when they edit these actions:\n- issue_refund:")

    bad = client.get("/api/v1/preferences", {"action_type": "nope", "format": "pdf", "x": "1"})
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"action_type", "format", "x"}
    client.force_login(people[0])  # a reviewer, not an admin
    assert client.get("/api/v1/preferences").status_code == 403
    assert client.get("/calibration/preferences/").status_code == 403
