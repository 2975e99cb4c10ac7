"""Threshold proposals: recalibration on synthetic verdicts moves an over-confident type's threshold
up and an under-confident one's down within the reviewers' capacity; a proposal never applies
itself; applying one is audited and bumps the policy version; run in shadow, it records its routes
beside the policy's without changing them; too little data is refused with the count still needed."""

import random
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from calibration.models import ThresholdProposal
from calibration.proposals import proposals_make
from calibration.recalibration import Mapping, isotonic
from calibration.services import label_record
from hitl.errors import Invalid
from hitl.models import Action, ActionType, RoutingSettings
from hitl.services import agent_create, token_issue
from hitl.states import RoutePattern, Status
from reviews.models import ReviewerGroup
from reviews.services import review_decide, review_post_action
from tests.conftest import bearer_client
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
TRUTH = {
    "draft_reply": lambda c: max(0.0, c - 0.3),
    "tag_ticket": lambda c: min(1.0, c + 0.1),
}  # over-, under-confident


def test_isotonic_pools_adjacent_violators_with_their_weights():
    fit = isotonic([(0.1, False, 1.0), (0.2, True, 1.0), (0.3, False, 1.0), (0.4, True, 1.0), (0.5, True, 3.0)])
    assert fit.steps == ((0.1, 0.0), (0.3, 0.5), (0.5, 1.0))
    assert [fit.chance(c) for c in (0.05, 0.25, 0.45, 0.9)] == [0.0, 0.5, 1.0, 1.0]
    assert isotonic([(0.9, True, 50.0), (0.95, False, 1.0)]).steps == ((0.95, 50 / 51),)  # weights pool too
    assert Mapping(()).chance(0.4) == 0.4


@pytest.fixture
def world(db):
    """Two reversible types at the cold start's 0.70; 200 verdicts each and 14 days of 20 actions a
    day each, with the team deciding as many a day as routing sends it now."""
    ReviewerGroup.objects.update(daily_capacity=None)
    team = ReviewerGroupFactory(key="team", rank=1)
    team.members.add(UserFactory(username="tina"))
    reviewer = team.members.get()
    agent, _ = agent_create(name="support-bot")
    rng = random.Random(11)
    types = {}
    for key, truth in TRUTH.items():
        types[key] = ActionTypeFactory(key=key, payload_schema=None, irreversible=False)
        for i in range(200):
            c = rng.uniform(0.3, 1.0)
            action = make(agent, types[key], c, NOW - timedelta(days=30, minutes=i))
            label_record(action=action, verdict="approved" if rng.random() < truth(c) else "rejected",
                         reviewer=reviewer, decided_at=NOW - timedelta(days=29, minutes=i))  # fmt: skip
        for i in range(14 * 20):  # one every 72 minutes: the 14 days
            make(agent, types[key], rng.uniform(0.3, 1.0), NOW - timedelta(minutes=72 * i + 1))
    routed_now = Action.objects.filter(created_at__gte=NOW - timedelta(days=14), confidence__lt=0.7).count()
    team.daily_capacity = round(routed_now / 14)
    team.save()
    return types, team, agent, reviewer


def make(agent, action_type, confidence, created):
    return Action.objects.create(
        agent=agent, action_type=action_type, payload={}, summary="x", confidence=confidence, irreversible=False,
        compliance_risk=False, status=Status.APPROVED, route_pattern=RoutePattern.AUTONOMOUS, route_threshold=0.7,
        created_at=created,
    )  # fmt: skip


def test_an_over_confident_type_gets_more_review_and_an_under_confident_one_less_within_capacity(world):
    types, team, *_ = world
    version = RoutingSettings.objects.get().version

    made, short = proposals_make(now=NOW)

    assert short == {} and {p.action_type.key for p in made} == set(TRUTH)
    over, under = (next(p for p in made if p.action_type.key == key) for key in ("draft_reply", "tag_ticket"))
    assert over.current_threshold == under.current_threshold == 0.7
    assert over.proposed_threshold > 0.7 > under.proposed_threshold
    routed = sum(p.replay["after"]["routed_per_day"] for p in made)
    assert routed <= team.daily_capacity + 0.01  # within what the team decides a day
    before = sum(p.replay["before"]["unreviewed_errors_per_day"] for p in made)
    after = sum(p.replay["after"]["unreviewed_errors_per_day"] for p in made)
    assert after < 0.85 * before  # the same reviews, spent where the errors are
    for p in made:
        low, high = p.interval
        assert low <= high and p.labels == 200 and p.capacity == team.daily_capacity
        # The product's own routing: below 0.6 it is tier2 (leads), above it tier1 (the team).
        assert set(p.replay["after"]["by_group"]) <= {"team", "lead"}
        assert sum(p.replay["after"]["by_group"].values()) == pytest.approx(
            p.replay["after"]["routed_per_day"], abs=0.02
        )
    # Never applied by itself: the thresholds and the policy version are as they were.
    assert set(ActionType.objects.filter(key__in=TRUTH).values_list("threshold", flat=True)) == {None}
    assert RoutingSettings.objects.get().version == version
    assert all(p.status == "proposed" for p in made)


def test_applying_a_proposal_is_audited_bumps_the_version_and_happens_once(world, admin_client):
    made, _ = proposals_make(now=NOW)
    over = next(p for p in made if p.action_type.key == "draft_reply")
    listed = admin_client.get(f"/admin/calibration/thresholdproposal/{over.pk}/change/")
    page = listed.content.decode()
    assert listed.status_code == 200 and "What-if replay" in page and f"proposed ({over.proposed_threshold})" in page
    assert 'aria-label="The replay, now (grey) and proposed (blue)"' in page  # the chart beside the table
    calibration = admin_client.get("/api/v1/calibration", {"action_type": "draft_reply"}).json()
    assert calibration[0]["proposed_threshold"] == over.proposed_threshold
    version = RoutingSettings.objects.get().version

    admin_client.post("/admin/calibration/thresholdproposal/", {"action": "apply", "_selected_action": [over.pk]})

    over.refresh_from_db()
    assert over.status == "applied" and over.decided_by.username == "admin"
    assert ActionType.objects.get(key="draft_reply").threshold == over.proposed_threshold
    assert RoutingSettings.objects.get().version == version + 1
    event = AuditEvent.objects.get(event_type="policy_changed")
    assert (event.actor_type, event.actor_label) == ("admin", "admin")
    assert (event.before["threshold"], event.after["threshold"]) == (None, over.proposed_threshold)
    admin_client.post("/admin/calibration/thresholdproposal/", {"action": "reject", "_selected_action": [over.pk]})
    over.refresh_from_db()
    assert over.status == "applied" and AuditEvent.objects.filter(event_type="policy_changed").count() == 1
    assert (
        admin_client.get("/api/v1/calibration", {"action_type": "draft_reply"}).json()[0]["proposed_threshold"] is None
    )


def test_a_new_proposal_supersedes_the_open_one(world):
    first, _ = proposals_make(now=NOW)
    second, _ = proposals_make(now=NOW + timedelta(minutes=1))
    assert set(ThresholdProposal.objects.filter(pk__in=[p.pk for p in first]).values_list("status", flat=True)) == {
        "superseded"
    }
    assert ThresholdProposal.objects.filter(status="proposed").count() == len(second) == 2


def test_too_few_verdicts_or_no_capacity_is_refused_saying_what_is_missing(world):
    types, team, agent, reviewer = world
    sparse = ActionTypeFactory(key="close_ticket", payload_schema=None, irreversible=False)
    for i in range(30):
        action = make(agent, sparse, 0.8, NOW - timedelta(days=20, minutes=i))
        label_record(action=action, verdict="approved", reviewer=reviewer, decided_at=NOW - timedelta(days=19))
    wire = ActionTypeFactory(key="wire_money", payload_schema=None, compliance_sensitive=True)
    for i in range(60):  # compliance-sensitive: a person sees every one, whatever its confidence
        action = make(agent, wire, 0.9, NOW - timedelta(days=20, minutes=i))
        label_record(action=action, verdict="approved", reviewer=reviewer, decided_at=NOW - timedelta(days=19))
        Action.objects.filter(pk=make(agent, wire, 0.95, NOW - timedelta(hours=i + 1)).pk).update(compliance_risk=True)
    made, short = proposals_make(now=NOW)
    assert short == {
        "close_ticket": "20 more human verdicts needed (has 30 of 50)",
        "wire_money": "its rules send every recent action to a person whatever its confidence",
    }
    assert "close_ticket" not in {p.action_type.key for p in made}
    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        with pytest.raises(CommandError, match=r"No proposal for close_ticket: 20 more human verdicts needed"):
            call_command("propose_thresholds", "--type", "close_ticket", stdout=StringIO())
        call_command("propose_thresholds", stdout=out)
    assert "draft_reply: 0.70 -> " in out.getvalue() and "close_ticket: no proposal: 20 more" in out.getvalue()

    ReviewerGroup.objects.update(daily_capacity=None)
    with pytest.raises(Invalid, match="No reviewer group has a daily capacity"):
        proposals_make(now=NOW)


def test_a_proposal_run_in_shadow_records_its_routes_beside_the_policy_and_shows_where_they_differ(world, admin_client):
    """In shadow the policy in force still routes every action; intake records where the proposal
    would have sent each one, and its page shows the actions it routes differently with what the
    reviewers said of them. Starting and dropping the run are audited; the policy version stays."""
    types, team, agent, reviewer = world
    made, _ = proposals_make(now=NOW)
    under = next(p for p in made if p.action_type.key == "tag_ticket")  # proposes less review
    assert under.proposed_threshold < 0.7
    page = admin_client.get(f"/admin/calibration/thresholdproposal/{under.pk}/change/").content.decode()
    assert "Not run in shadow" in page and "for 7 days" in page
    version = RoutingSettings.objects.get().version

    admin_client.post("/admin/calibration/thresholdproposal/", {"action": "shadow", "_selected_action": [under.pk]})

    under.refresh_from_db()
    assert under.status == "shadow" and under.shadow_until - under.shadow_from == timedelta(days=7)
    started = AuditEvent.objects.get(event_type="proposal_shadowed")
    assert (started.actor_type, started.actor_label, started.action_type) == ("admin", "admin", "tag_ticket")
    assert started.data["proposal"] == under.pk and started.data["proposed_threshold"] == under.proposed_threshold
    assert RoutingSettings.objects.get().version == version  # nothing in force changed
    api = bearer_client(token_issue(agent=agent))
    between = round((under.proposed_threshold + 0.7) / 2, 3)  # routed now, on its own under the proposal

    def submit(key, confidence):
        body = {"action_type": key, "payload": {}, "summary": f"{key} at {confidence}", "confidence": confidence}
        response = api.post("/api/v1/actions", body, format="json")
        assert response.status_code == 201, response.content
        return Action.objects.get(pk=response.json()["id"])

    sure, doubtful, other = submit("tag_ticket", 0.99), submit("tag_ticket", between), submit("draft_reply", between)
    assert sure.route_pattern == "autonomous" and sure.shadow_route["pattern"] == "autonomous"
    assert doubtful.route_pattern != "autonomous" and doubtful.route_threshold == 0.7  # the policy in force routes
    assert doubtful.shadow_route == {
        "proposal": under.pk, "threshold": under.proposed_threshold, "pattern": "autonomous", "tier": "",
        "reviewer_group": "",
    }  # fmt: skip
    assert other.shadow_route is None  # only the proposal's type
    if doubtful.route_pattern == "pre_action":
        review_decide(reviewer=reviewer, action_id=doubtful.pk, decision="reject", reason="wrong", comment="no")
        said = "rejected by the reviewer"
    else:
        review_post_action(reviewer=reviewer, action_id=doubtful.pk, verdict="flag", comment="no")
        said = "flagged after it ran"

    page = admin_client.get(f"/admin/calibration/thresholdproposal/{under.pk}/change/").content.decode()
    assert "2 actions of this type routed by both, 1 of them differently" in page
    assert f"tag_ticket at {between}" in page and said in page and "tag_ticket at 0.99" not in page

    admin_client.post("/admin/calibration/thresholdproposal/", {"action": "reject", "_selected_action": [under.pk]})
    under.refresh_from_db()
    dropped = AuditEvent.objects.get(event_type="proposal_rejected")
    assert under.status == "rejected" and dropped.data["proposal"] == under.pk
    assert submit("tag_ticket", between).shadow_route is None  # the run ended with it
    assert ActionType.objects.get(key="tag_ticket").threshold is None
    assert RoutingSettings.objects.get().version == version
