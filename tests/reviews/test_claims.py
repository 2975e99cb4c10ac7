import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from hitl.errors import Conflict, Forbidden, NotFound
from hitl.services import action_submit, agent_create
from reviews.claims import claim_next, claim_release, claim_take, claim_take_over
from reviews.models import Claim
from reviews.services import review_decide
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory


@pytest.fixture
def scene(db):
    team, lead = ReviewerGroupFactory(key="team", rank=1), ReviewerGroupFactory(key="lead", rank=2)
    tina, tom, leo = UserFactory(username="tina"), UserFactory(username="tom"), UserFactory(username="leo")
    team.members.add(tina, tom)
    lead.members.add(leo)
    action_type = ActionTypeFactory(payload_schema=None)
    agent, _ = agent_create(name="bot")

    def new_action(confidence=0.9):
        return action_submit(agent=agent, action_type=action_type, payload={}, summary="s", confidence=confidence)

    return tina, tom, leo, new_action


def events(action, kind):
    return AuditEvent.objects.filter(action=action, event_type=kind)


def test_a_claim_is_exclusive_until_it_expires(scene):
    tina, tom, _, new_action = scene
    action = new_action()
    claim = claim_take(reviewer=tina, action_id=action.pk)
    assert claim.holder == tina and claim.expires_at > timezone.now() + timedelta(minutes=9)
    with pytest.raises(Conflict) as refused:
        claim_take(reviewer=tom, action_id=action.pk)
    assert refused.value.extra["holder"] == "tina" and "tina is reviewing" in refused.value.message

    Claim.objects.filter(pk=action.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert claim_take(reviewer=tom, action_id=action.pk).holder == tom
    assert events(action, "claimed").count() == 2


def test_renewing_ones_own_claim_extends_it_without_a_new_event(scene):
    tina, _, _, new_action = scene
    action = new_action()
    first = claim_take(reviewer=tina, action_id=action.pk)
    again = claim_take(reviewer=tina, action_id=action.pk)
    assert again.expires_at >= first.expires_at and events(action, "claimed").count() == 1


def test_release_gives_the_action_back(scene):
    tina, tom, _, new_action = scene
    action = new_action()
    claim_take(reviewer=tina, action_id=action.pk)
    assert claim_release(reviewer=tom, action_id=action.pk) is False  # not tom's to release
    assert claim_release(reviewer=tina, action_id=action.pk) is True
    assert not Claim.objects.exists() and events(action, "released").count() == 1
    assert claim_take(reviewer=tom, action_id=action.pk).holder == tom


def test_a_lead_takes_over_and_it_is_audited(scene):
    tina, tom, leo, new_action = scene
    action = new_action()
    claim_take(reviewer=tina, action_id=action.pk)
    with pytest.raises(Forbidden):
        claim_take_over(lead=tom, action_id=action.pk)  # a peer, not senior: sees it, may not take it
    assert claim_take_over(lead=leo, action_id=action.pk).holder == leo
    event = events(action, "taken_over").get()
    assert event.before == {"holder": "tina"} and event.after == {"holder": "leo"}


def test_claims_refuse_decided_and_out_of_scope_actions(scene):
    tina, _, leo, new_action = scene
    decided, tier2 = new_action(), new_action(confidence=0.4)
    review_decide(reviewer=tina, action_id=decided.pk, decision="approve")
    with pytest.raises(Conflict):
        claim_take(reviewer=tina, action_id=decided.pk)
    with pytest.raises(NotFound):
        claim_take(reviewer=tina, action_id=tier2.pk)
    assert claim_take(reviewer=leo, action_id=tier2.pk).holder == leo


def test_next_takes_the_most_urgent_unclaimed_action(scene):
    tina, tom, _, new_action = scene
    first, second = new_action(), new_action()
    assert claim_next(reviewer=tina).action_id == first.pk
    assert claim_next(reviewer=tom).action_id == second.pk
    assert claim_next(reviewer=tom).action_id == second.pk  # tom's own claim is still his next
    claim_release(reviewer=tom, action_id=second.pk)
    Claim.objects.filter(pk=first.pk).delete()
    review_decide(reviewer=tina, action_id=first.pk, decision="approve")
    assert claim_next(reviewer=tina).action_id == second.pk


@pytest.mark.django_db(transaction=True)
def test_reviewers_pressing_next_together_never_land_on_the_same_action():
    team = ReviewerGroupFactory(key="team", rank=1)
    reviewers = [UserFactory(username=f"r{i}") for i in range(6)]
    team.members.add(*reviewers)
    action_type = ActionTypeFactory(payload_schema=None)
    agent, _ = agent_create(name="bot")
    for _round in range(10):  # the race is rare: give it many chances
        Claim.objects.all().delete()
        for _ in range(6):
            action_submit(agent=agent, action_type=action_type, payload={}, summary="s", confidence=0.9)
        barrier, got = threading.Barrier(6), []

        def press(reviewer, barrier=barrier, got=got):
            barrier.wait()
            try:
                claim = claim_next(reviewer=reviewer)
                got.append(claim.action_id if claim else None)
            finally:
                connection.close()

        threads = [threading.Thread(target=press, args=(r,)) for r in reviewers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert None not in got and len(set(got)) == 6
        assert Claim.objects.count() == 6
