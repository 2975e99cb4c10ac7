from celery import shared_task

from hitl.errors import Invalid

from .proposals import proposals_due, proposals_make
from .services import actions_count_catch_up


@shared_task(acks_late=True, ignore_result=True)
def count_actions() -> int:
    """Every minute: count what agents submitted since the last run (calibration's routed share)."""
    return actions_count_catch_up()


@shared_task(acks_late=True, ignore_result=True)
def propose_thresholds() -> int:
    """Hourly: when the schedule calls for it (RecalibrationSettings.every, weekly by default),
    propose recalibrated thresholds; an admin applies them. Returns how many were proposed."""
    if not proposals_due():
        return 0
    try:
        made, _ = proposals_make()
    except Invalid:  # no capacity set: nothing to fit yet; the admin page says so
        return 0
    return len(made)
