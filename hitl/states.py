"""The one vocabulary of actions: their statuses and the state machine over them, decisions,
outcomes, route patterns and tiers. Code names these members, never their bare strings.

An action is created `pending` (waiting for a human) or `approved` (by policy). A pending action
leaves exactly once, to one of the final states. Changes are conditional UPDATEs
(`WHERE status = <from>`), so the database decides who wins a race.
"""

from django.db import models


class Status(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Decision(models.TextChoices):
    APPROVED = "approved"
    MODIFIED = "modified"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Outcome(models.TextChoices):
    EXECUTED = "executed"
    FAILED = "failed"


class Compensation(models.TextChoices):
    """After a post-action reviewer flags what ran: the agent is asked to undo it, then reports."""

    REQUESTED = "requested"
    COMPENSATED = "compensated"
    FAILED = "compensation_failed"


class RoutePattern(models.TextChoices):
    AUTONOMOUS = "autonomous", "Autonomous"
    POST_ACTION = "post_action", "Post-action review"
    PRE_ACTION = "pre_action", "Pre-action approval"


class Tier(models.TextChoices):
    TIER1 = "tier1", "tier1"
    TIER2 = "tier2", "tier2"
    TIER3 = "tier3", "tier3"


TRANSITIONS = {
    Status.PENDING: frozenset({Status.APPROVED, Status.REJECTED, Status.EXPIRED, Status.CANCELLED}),
    Status.APPROVED: frozenset(),
    Status.REJECTED: frozenset(),
    Status.EXPIRED: frozenset(),
    Status.CANCELLED: frozenset(),
}
# The status a decision moves a pending action to.
DECISION_STATUS = {
    Decision.APPROVED: Status.APPROVED,
    Decision.MODIFIED: Status.APPROVED,
    Decision.REJECTED: Status.REJECTED,
    Decision.EXPIRED: Status.EXPIRED,
}


class TransitionNotAllowed(Exception):
    pass


def check_transition(from_status: str, to_status: str) -> None:
    if to_status not in TRANSITIONS[from_status]:
        raise TransitionNotAllowed(f"An action cannot go from {from_status} to {to_status}.")
