from celery import shared_task

from .services import actions_count_catch_up


@shared_task(acks_late=True, ignore_result=True)
def count_actions() -> int:
    """Every minute: count what agents submitted since the last run (calibration's routed share)."""
    return actions_count_catch_up()
