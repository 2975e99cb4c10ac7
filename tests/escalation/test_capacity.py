"""Expertise capacity: new items overflow to the fallback group when theirs is full or empty."""

import pytest

from escalation.services import escalation_sweep
from hitl.models import Action, AuditEvent
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


def test_a_group_with_no_active_member_overflows_and_without_a_fallback_keeps_its_items(finance):
    group, submit = finance
    group.members.update(is_active=False)
    (first,) = submit(1)
    escalation_sweep()
    assert Action.objects.get(pk=first.pk).reviewer_group == "lead"
    ReviewerGroup.objects.filter(pk=group.pk).update(fallback=None)
    (second,) = submit(1)
    escalation_sweep()
    assert Action.objects.get(pk=second.pk).reviewer_group == "finance"
