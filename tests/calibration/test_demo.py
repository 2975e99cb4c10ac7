"""The demo feeds calibration (issue 15): once the demo reviewer has decided part of what the demo
agent submits, the calibration shows the over-confident type as `over`, the under-confident one as
`under` and a calibrated one as `none`; the demo reviewer decides only what its groups may."""

import io
import random
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from calibration.models import Label
from demo import data as demo
from demo.reviewer import DemoReviewer, reviewers_ensure, takes
from hitl import services as hitl_services
from hitl.models import Action, Agent
from hitl.payloads import payload_errors
from hitl.services import agent_create, token_issue
from hitl.states import RoutePattern, Status
from reviews.models import Verdict
from reviews.selectors import reviewer_scope
from tests.conftest import bearer_client

BOTS = {username for username, _ in demo.REVIEW_BOTS}


@pytest.fixture
def seeded(db, monkeypatch):
    """The demo's data, and every draw seeded: the ids (which the truths and the share are drawn
    by) and audit sampling."""
    ids = random.Random(15)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=ids.getrandbits(128), version=4))
    monkeypatch.setattr(hitl_services, "_draws", random.Random(16))
    call_command("seed_demo", stdout=io.StringIO())


def demo_agent_submits(count: int, *, start: int = 1, name: str = demo.AGENT_NAME) -> None:
    """What the demo agent sends (demo.data.proposal, seeded), through the API as the agent `name`."""
    agent = Agent.objects.filter(name=name).first()
    token = token_issue(agent=agent) if agent else agent_create(name=name)[1]
    api, rng = bearer_client(token), random.Random(f"{name}:{start}")
    for seq in range(start, start + count):
        response = api.post("/api/v1/actions", demo.proposal(rng, seq), format="json")
        assert response.status_code == 201, response.content


def calibration_by_type() -> dict[str, dict]:
    """GET /api/v1/calibration as the demo's lead, by action type."""
    lead = get_user_model().objects.get(username="leo")
    response = bearer_client(token_issue(user=lead)).get("/api/v1/calibration")
    assert response.status_code == 200, response.content
    return {row["action_type"]: row for row in response.json()}


def test_the_calibration_shows_the_demo_agents_over_and_under_confidence(seeded):
    """The agent submits 450 actions, the demo reviewer deciding every 150 (as every few seconds)."""
    reviewer = DemoReviewer(reviewers_ensure(), min_age=timedelta(0))
    for start in (1, 151, 301):  # the demo reviewer decides every so often as the agent submits
        demo_agent_submits(150, start=start)
        reviewer.round(timezone.now())

    rows = calibration_by_type()
    over, under, calibrated = rows["update_preference"], rows["send_email"], rows["issue_refund"]
    assert min(over["n"], under["n"], calibrated["n"]) >= 30
    assert (over["bias"], under["bias"], calibrated["bias"]) == ("over", "under", "none")
    # The shapes: below the diagonal where the over-confident type states 0.8 and up, above it where
    # the under-confident one hedges.
    for bin in over["bins"]:
        assert bin["n"] == 0 or bin["lower"] >= 0.8 and bin["accuracy"] < bin["mean_confidence"] - 0.1
    for bin in under["bins"]:
        assert bin["n"] == 0 or bin["lower"] <= 0.7 and bin["accuracy"] > bin["mean_confidence"] + 0.1
    assert any(row["modification_rate"] for row in rows.values())  # some wrong proposals were edited

    # The over-confident type mostly runs on its own: its labels are the audit samples, weighed by them.
    sampled = Label.objects.filter(action__sampled=True, action_type__key="update_preference")
    assert sampled.count() >= 20
    assert set(sampled.values_list("probability", flat=True)) == {demo.AUDIT_SAMPLE_RATES["update_preference"]}

    groups = dict(demo.REVIEW_BOTS)
    for verdict in Verdict.objects.select_related("action", "reviewer"):  # only what its groups may decide
        bot, action = verdict.reviewer, verdict.action
        assert action.reviewer_group in groups[bot.username] and reviewer_scope(bot).covers(action)
    four_eyes = Action.objects.filter(approvals_required=2, status=Status.APPROVED).prefetch_related("verdicts")
    assert four_eyes
    for action in four_eyes:  # two executives approved it
        assert len({v.reviewer_id for v in action.verdicts.all()}) == 2

    labels = Label.objects.select_related("action__action_type", "reviewer")
    assert labels.count() == Label.objects.filter(reviewer__username__in=BOTS).count()
    for label in labels:  # decided as the truths say, the same every time it is asked
        action = label.action
        assert label.correct == demo.is_right(action.action_type.key, action.confidence, action.pk)


def test_the_demo_reviewer_leaves_people_their_share_young_actions_and_other_agents(seeded):
    demo_agent_submits(60)
    demo_agent_submits(5, name="support-bot")

    out = io.StringIO()
    call_command("demo_reviewer", "--rounds", "1", "--min-age", "3600", stdout=out)
    assert not Verdict.objects.exists()  # nothing is an hour old

    call_command("demo_reviewer", "--rounds", "1", "--min-age", "0", stdout=out)
    log = out.getvalue().splitlines()
    assert log[-1].startswith("reviewed: ") and "approved " in log[-1] and "left " in log[-1], log
    assert Verdict.objects.filter(action__agent__name=demo.AGENT_NAME).exists()
    assert not Verdict.objects.filter(action__agent__name="support-bot").exists()
    left = Action.objects.filter(
        agent__name=demo.AGENT_NAME, status=Status.PENDING, route_pattern=RoutePattern.PRE_ACTION
    )
    assert left and not any(takes(action, 0.6) for action in left)


def test_the_truths_give_each_type_its_chance_of_being_right():
    ids = [uuid.UUID(int=n) for n in range(3000)]

    def right(action_type, confidence):
        return sum(demo.is_right(action_type, confidence, i) for i in ids) / len(ids)

    assert right("update_preference", 0.9) == pytest.approx(0.55, abs=0.03)  # over-confident
    assert right("send_email", 0.5) == pytest.approx(0.93, abs=0.03)  # under-confident
    assert right("issue_refund", 0.7) == pytest.approx(0.7, abs=0.03)  # calibrated


def test_the_agent_states_each_types_confidence_and_every_correction_fits_its_type():
    rng = random.Random(3)
    schemas = {fields["key"]: fields["payload_schema"] for fields in demo.ACTION_TYPES}
    edited = set()
    for seq in range(300):
        body = demo.proposal(rng, seq)
        key = body["action_type"]
        stated = demo.truth(key).stated
        assert stated is None or stated[0] <= body["confidence"] <= stated[1]
        edit = demo.correction(key, body["payload"], uuid.UUID(int=seq))
        if edit is not None:
            assert edit != body["payload"] and not payload_errors(schemas[key], edit)
            edited.add(key)
    assert edited == set(demo.CORRECTIONS)
