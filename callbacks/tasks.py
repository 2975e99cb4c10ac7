from celery import shared_task

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_webhooks(attempts: list) -> None:
    """Make these attempts ([delivery id, attempt number] pairs), the first few here and the rest in
    tasks of their own; an attempt already made or taken is skipped.
    A failed attempt is due again later (its time is in its row), and beat's sweep queues it then."""
    for delivery_id, attempt in services.webhooks_fan_out(attempts):
        services.webhook_deliver(delivery_id=delivery_id, attempt=attempt)


@shared_task(acks_late=True, ignore_result=True)
def deliver_due_webhooks() -> int:
    return services.webhooks_requeue_due()
