"""When the next SLA event of an action falls: pure functions of its current step and stage.

Stage 0 means the action has not been announced to its group yet; stage k > 0 means announced
and k - 1 warnings sent at this step.
"""

from datetime import datetime, timedelta


def step_due(step: dict, started: datetime) -> datetime:
    return started + timedelta(seconds=step["sla"])


def next_event_at(step: dict, due_at: datetime, stage: int) -> datetime:
    started = due_at - timedelta(seconds=step["sla"])
    if stage == 0:
        return started
    sent = stage - 1
    if sent < len(step["warn_at"]):
        return started + timedelta(seconds=step["sla"] * step["warn_at"][sent])
    return due_at


def passed_warnings(step: dict, due_at: datetime, now: datetime) -> int:
    """How many of the step's warning points lie at or before `now`."""
    started = due_at - timedelta(seconds=step["sla"])
    return sum(started + timedelta(seconds=step["sla"] * f) <= now for f in step["warn_at"])
