"""Someone is told out of the box: a fresh database has in-app routes for every tier group, so a
new item, an SLA warning and a breach reach the group's reviewers with nothing configured; and the
queue shows how much of its SLA each item has used, not only when it is overdue."""

import re
from datetime import timedelta

import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from escalation.delivery import notification_deliver
from escalation.models import Notification, NotificationRoute
from escalation.services import escalation_sweep
from hitl.services import action_submit, agent_create
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory


def test_a_fresh_database_routes_sla_events_to_each_tier_group_in_app(db):
    routes = set(NotificationRoute.objects.filter(is_active=True).values_list("reviewer_group", "event", "channel"))
    for group in ("team", "lead", "executive"):
        for event in ("new_item", "escalation", "warning", "breach"):
            assert (group, event, "inapp") in routes, (group, event)


def test_the_default_routes_notify_a_tier_group_of_a_new_item_a_warning_and_a_breach(db):
    for key, rank in (("team", 1), ("lead", 2), ("executive", 3)):
        ReviewerGroupFactory(key=key, rank=rank).members.add(UserFactory(username=f"{key}-reviewer"))
    agent, _ = agent_create(name="support-bot")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        payload = {"to": "jane@example.com", "subject": "Hi"}
        action = action_submit(agent=agent, action_type=ActionTypeFactory(), payload=payload, summary="Email Jane",
                               confidence=0.9, compliance_risk=True)  # fmt: skip
        assert (action.route_tier, action.reviewer_group) == ("tier3", "executive")  # 15 minutes, paged
        escalation_sweep()  # announced
    with time_machine.travel(start + timedelta(minutes=8), tick=False):
        escalation_sweep()  # past half the SLA
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        escalation_sweep()  # breached: tier3 expires
    sent = list(Notification.objects.filter(action=action).order_by("id"))
    assert [(n.event, n.channel, n.reviewer_group) for n in sent] == [
        ("new_item", "inapp", "executive"), ("warning", "inapp", "executive"), ("breach", "inapp", "executive"),
    ]  # fmt: skip
    for notification in sent:
        assert notification_deliver(notification_id=notification.pk) == "sent"
    delivered = AuditEvent.objects.filter(action=action, event_type="notification_sent")
    assert [e.data["target"] for e in delivered] == ["group:executive"] * 3


def test_queue_rows_show_urgency_by_the_share_of_the_sla_used(client, db):
    tina = UserFactory(username="tina")
    ReviewerGroupFactory(key="team", rank=1).members.add(tina)
    ReviewerGroupFactory(key="executive", rank=3).members.add(tina, UserFactory(username="ed"))
    agent, _ = agent_create(name="support-bot")
    email = ActionTypeFactory()
    start = timezone.now()
    with time_machine.travel(start - timedelta(minutes=10, seconds=26), tick=False):
        urgent = action_submit(agent=agent, action_type=email, payload={"to": "jane@example.com", "subject": "Hi"},
                               summary="Tier3 with 4m 34s left", confidence=0.9, compliance_risk=True)  # fmt: skip
    calm = action_submit(agent=agent, action_type=email, payload={"to": "jane@example.com", "subject": "Hi"},
                         summary="Tier1 with four hours left", confidence=0.9)  # fmt: skip
    client.force_login(tina)
    html = client.get("/reviews/").content.decode()

    def row(action):
        return re.search(rf'<tr id="row-{action.pk}"[^>]*>.*?</tr>', html, re.S).group(0)

    assert 'data-urgency="1"' in row(urgent) and "70 % of the SLA used" in row(urgent)
    assert 'class="countdown sla-1"' in row(urgent) and 'data-sla="900.0"' in row(urgent)
    assert 'data-urgency="0"' in row(calm) and "0 % of the SLA used" in row(calm)
