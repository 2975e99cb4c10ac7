from celery import shared_task

from . import delivery, notify
from .backlog import backlog_check
from .services import escalation_sweep


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def sla_sweep() -> dict:
    """Beat runs this every HITL_SLA_SWEEP_SECONDS; overlapping runs skip each other's rows."""
    result = escalation_sweep()
    backlog_check()
    return {"escalated": result.escalated, "expired": result.expired, "warned": result.warned}


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, max_retries=None)
def deliver_notifications(self, ids: list[int]) -> None:
    """Send the notifications `ids`; retry, with backoff, those that failed and have attempts left
    (escalation.delivery bounds them: HITL_NOTIFY_MAX_ATTEMPTS) or that another worker holds."""
    again = [pk for pk in ids if delivery.notification_deliver(notification_id=pk) in (delivery.RETRY, delivery.BUSY)]
    if again:
        raise self.retry(args=[again], countdown=delivery.retry_delay(self.request.retries))


@shared_task(acks_late=True, ignore_result=True)
def redeliver_stranded_notifications() -> int:
    return notify.notifications_redeliver_stranded()
