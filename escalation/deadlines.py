"""When a step of an escalation path falls due. The sweep's transitions (escalation.transitions)
work out the rest in SQL."""

from datetime import datetime, timedelta


def step_due(step: dict, started: datetime) -> datetime:
    return started + timedelta(seconds=step["sla"])
