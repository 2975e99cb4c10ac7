"""Expertise capacity: new items overflow to the fallback group when theirs is full or empty."""

import pytest

from audit.models import AuditEvent
from escalation.services import escalation_sweep
from hitl.models import Action
from hitl.policy import policy_invalidate
from hitl.services import action_submit, agent_create
from reviews.models import ReviewerGroup
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory


@pytest.fixture
def finance(db):
    lead = ReviewerGroupFactory(key="lead", rank=2)
    group = ReviewerGroupFactory(key="finance", kind="expertise", rank=0, daily_capacity=2, fallback=lead)
    group.members.add(UserFactory(username="fiona"))
    lead.members.add(UserFactory(username="leo"))
    refund = ActionTypeFactory(key="issue_refund", payload_schema=None, reviewer_group="finance")
    agent, _ = agent_create(name="support-bot")

    def submit(n):
        return [
            action_submit(agent=agent, action_type=refund, payload={"n": i}, summary=f"Refund #{i}", confidence=0.9)
            for i in range(n)
        ]

    return group, submit


def test_items_beyond_the_daily_capacity_overflow_to_the_fallback(finance):
    _, submit = finance
    actions = submit(3)
    assert {a.reviewer_group for a in actions} == {"finance"}  # routed there; the sweep balances
    assert escalation_sweep().announced == 3
    groups = [Action.objects.get(pk=a.pk).reviewer_group for a in actions]
    assert sorted(groups) == ["finance", "finance", "lead"]
    (event,) = AuditEvent.objects.filter(event_type="overflowed")
    assert event.before == {"group": "finance", "why": "at its daily capacity of 2"}
    assert event.after == {"group": "lead"}
    assert escalation_sweep().announced == 0  # settled once


def test_a_group_with_no_active_member_overflows_and_without_a_fallback_its_tier_group_reviews(finance):
    group, submit = finance
    (routed,) = submit(1)  # fiona is active when it is routed…
    group.members.update(is_active=False)  # …and leaves before the sweep announces it
    escalation_sweep()
    assert Action.objects.get(pk=routed.pk).reviewer_group == "lead"
    event = AuditEvent.objects.get(event_type="overflowed", action=routed)
    assert event.before == {"group": "finance", "why": "no active member"}

    policy_invalidate()
    (second,) = submit(1)  # routing itself sends it to the fallback now, and says why
    assert second.reviewer_group == "lead"
    assert second.route_reasons[-1]["message"] == (
        "reviewed by lead: the reviewer group of issue_refund has 0 active members, fewer than the 1 approval "
        "tier1 needs"
    )

    ReviewerGroup.objects.filter(pk=group.pk).update(fallback=None)
    ReviewerGroupFactory(key="team", rank=1).members.add(UserFactory(username="tina"))
    policy_invalidate()
    (third,) = submit(1)  # no fallback: tier1's own group reviews it
    escalation_sweep()
    assert Action.objects.get(pk=third.pk).reviewer_group == "team"
