from celery import shared_task

from .services import escalation_sweep


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def sla_sweep() -> dict:
    """Beat runs this every HITL_SLA_SWEEP_SECONDS; overlapping runs skip each other's rows."""
    result = escalation_sweep()
    return {"escalated": result.escalated, "expired": result.expired, "warned": result.warned}
