"""The backlog alert: when the waiting queue passes a bound a lead set in admin (BacklogBound), the
groups with a `backlog` notification route hear of it once, through the same channels as SLA
events; once the queue is back within bounds, the next breach is news again.

Checked after each SLA sweep (escalation.tasks): one aggregate over the waiting items' partial
index, and a conditional UPDATE of the bound's row decides, in the database, who announces a
breach, so two sweeps at once announce it once.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from hitl.states import RoutePattern, Status

from . import notify
from .messages import duration_words
from .models import BacklogBound
from .notify_models import Event, NotificationRoute


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_age: timedelta | None

    def over(self, bound: BacklogBound) -> list[str]:
        """Which bounds it passes, in words; empty when within them."""
        over = []
        if bound.max_pending is not None and self.pending > bound.max_pending:
            over.append(f"{self.pending} items waiting (bound {bound.max_pending})")
        if bound.max_oldest_age is not None and self.oldest_age is not None and self.oldest_age > bound.max_oldest_age:
            oldest, most = (duration_words(age.total_seconds()) for age in (self.oldest_age, bound.max_oldest_age))
            over.append(f"the oldest waiting {oldest} (bound {most})")
        return over


_BACKLOG = f"""
    SELECT count(*), %(now)s - min(created_at) FROM hitl_action
    WHERE status = '{Status.PENDING}' AND route_pattern = '{RoutePattern.PRE_ACTION}'
"""


def backlog_now(now: datetime) -> Backlog:
    with connection.cursor() as cursor:
        cursor.execute(_BACKLOG, {"now": now})
        return Backlog(*cursor.fetchone())


def backlog_check(*, now: datetime | None = None) -> bool:
    """Alert once when the queue has passed its bounds; clear the mark once it is back within
    them. Returns whether this call sent the alert."""
    now = now or timezone.now()
    bound = BacklogBound.objects.first()
    if bound is None:
        return False
    over = backlog_now(now).over(bound)
    if not over:
        BacklogBound.objects.filter(pk=bound.pk, over_since__isnull=False).update(over_since=None)
        return False
    with transaction.atomic():
        if not BacklogBound.objects.filter(pk=bound.pk, over_since__isnull=True).update(over_since=now):
            return False  # announced already, by this sweep's predecessor or a sweep running beside it
        text = "; ".join(over)[:300]
        routes = NotificationRoute.objects.filter(is_active=True, event=Event.BACKLOG)
        notify.notifications_create_unbound(
            items=[(route.reviewer_group, route.channel, route.target, text) for route in routes], event=Event.BACKLOG
        )
    return True
