"""What happened in the core, announced to the feature apps that subscribe (the reviewer
workspace pushes each changed row to the pages that show it).

One mechanism: Django signals, sent from transaction.on_commit, so a change that rolls back
announces nothing and no receiver runs inside the writer's transaction. A receiver gets the ids;
it re-reads what it needs.
"""

from functools import partial

from django.db import transaction
from django.dispatch import Signal

action_submitted = Signal()  # action_ids, routed: a new action is stored (routed: sent to a reviewer group)
actions_changed = Signal()  # action_ids: claimed, released, decided, escalated, reassigned, edited…
# action_id, event: what an agent is told of (by webhook): one of EVENTS.
action_event = Signal()
action_events = Signal()  # action_ids, event: the same for a batch (the SLA sweep's escalations, expiries)
EVENTS = (
    "action.approved",
    "action.modified",
    "action.rejected",
    "action.expired",
    "action.escalated",
    "action.compensation_requested",
)


def announce_submitted(action_id, *, routed: bool) -> None:
    transaction.on_commit(partial(action_submitted.send, sender=None, action_ids=[action_id], routed=routed))


def announce_changed(action_ids) -> None:
    """After commit, say that these actions changed (one announcement for a batch)."""
    action_ids = list(action_ids)
    if action_ids:
        transaction.on_commit(partial(actions_changed.send, sender=None, action_ids=action_ids))


def announce_event(action_id, event: str) -> None:
    """After commit, say that something the agent is told of happened to the action (EVENTS)."""
    if event not in EVENTS:
        raise ValueError(f"Unknown action event {event!r}.")
    # robust: the change is committed; a receiver that fails (webhooks) is logged, not the writer's error.
    transaction.on_commit(partial(action_event.send, sender=None, action_id=action_id, event=event), robust=True)


def announce_events(action_ids, event: str) -> None:
    """After commit, say that `event` happened to each of these actions: one announcement for a
    batch, so that a sweep of thousands pays for one, not one each."""
    if event not in EVENTS:
        raise ValueError(f"Unknown action event {event!r}.")
    action_ids = list(action_ids)
    if action_ids:
        transaction.on_commit(partial(action_events.send, sender=None, action_ids=action_ids, event=event), robust=True)
