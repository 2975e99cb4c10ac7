"""Recording notifications of SLA events (new item, warning, escalation, breach); sending them is
escalation.delivery's. See notify_models.

The sweep records them in the transaction of the events (notifications_create): one row per
event and channel, unique per event, so a sweep that runs twice records it once. After commit
each chunk of them is queued for escalation.tasks.deliver_notifications.
"""

from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .delivery import MAX_BACKOFF_SECONDS
from .notify_models import Channel, Event, Notification, NotificationRoute

PAGED_EVENTS = (Event.ESCALATION, Event.BREACH)
TASK_CHUNK = 10  # notifications per delivery task: a slow endpoint holds up a few, not a whole batch
STRANDED_BATCH = 500
DELIVER_TASK = "escalation.tasks.deliver_notifications"


def notifications_create(*, items: list) -> None:
    """Record the notifications `items` ((action, event) pairs) call for; deliver after commit.

    Caller holds the transaction (and the row locks) of the events; each action (an Action, or the
    sweep's transitions.Moved) is as the event left it: after an escalation its group, tier and
    step are the new ones. One query reads the
    routes, one inserts the rows, one reads back which were new.
    """
    if not items:
        return
    groups = {action.reviewer_group for action, _ in items}
    routes = {}
    for group, event, channel, target in NotificationRoute.objects.filter(
        is_active=True, reviewer_group__in=groups, event__in={event for _, event in items}
    ).values_list("reviewer_group", "event", "channel", "target"):
        routes.setdefault((group, event), []).append((channel, target))
    now = timezone.now()
    rows = []
    for action, event in items:
        channels = list(routes.get((action.reviewer_group, event), ()))
        if event in PAGED_EVENTS and settings.HITL_PAGER_URL and action.step_pages:
            channels.append((Channel.PAGER, settings.HITL_PAGER_URL))
        rows.extend(
            Notification(
                action_id=action.pk,
                event=event,
                channel=channel,
                target=target,
                escalation_step=action.escalation_step,
                sla_stage=action.sla_stage,
                tier=action.route_tier,
                reviewer_group=action.reviewer_group,
                due_at=action.due_at,
                created_at=now,
            )
            for channel, target in channels
        )
    if not rows:
        return
    Notification.objects.bulk_create(rows, ignore_conflicts=True)  # recorded already: not again
    ids = list(
        Notification.objects.filter(action_id__in={row.action_id for row in rows}, created_at=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if ids:
        # robust: a broker that is down must not fail the sweep, whose events are committed.
        transaction.on_commit(lambda: _enqueue(ids), robust=True)


def notifications_create_unbound(*, items: list, event: str) -> None:
    """Record notifications of an event about no one action (a backlog alert): `items` are
    (group, channel, target, text). Delivered after commit like the others."""
    now = timezone.now()
    rows = Notification.objects.bulk_create(
        Notification(
            action=None,
            event=event,
            channel=channel,
            target=target,
            escalation_step=0,
            sla_stage=0,
            tier="",
            reviewer_group=group,
            due_at=None,
            text=text,
            created_at=now,
        )
        for group, channel, target, text in items
    )
    ids = [row.pk for row in rows]
    if ids:
        transaction.on_commit(lambda: _enqueue(ids), robust=True)


def _enqueue(ids: list[int]) -> None:
    for start in range(0, len(ids), TASK_CHUNK):
        _deliver_later(ids[start : start + TASK_CHUNK])


def _deliver_later(ids: list[int]) -> None:
    """Queue escalation.tasks.deliver_notifications by its name: that module imports the sweep,
    which records through this one, and a process that records need not have loaded it."""
    current_app.send_task(DELIVER_TASK, args=[ids])


def notifications_redeliver_stranded() -> int:
    """Queue again the notifications still open long after every retry would have run: their
    delivery task was lost (broker restart, worker crash after its last retry). Beat runs this."""
    # Past every retry's longest possible wait, so a row waiting for its scheduled retry is not taken.
    cutoff = timezone.now() - timedelta(seconds=settings.HITL_NOTIFY_MAX_ATTEMPTS * MAX_BACKOFF_SECONDS + 60)
    ids = list(
        Notification.objects.filter(
            Q(status=Notification.Status.PENDING)
            | Q(status=Notification.Status.SENDING, claimed_until__lt=timezone.now()),
            created_at__lt=cutoff,
        ).values_list("pk", flat=True)[:STRANDED_BATCH]
    )
    if ids:
        _enqueue(ids)
    return len(ids)
