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


def announce_submitted(action_id, *, routed: bool) -> None:
    transaction.on_commit(partial(action_submitted.send, sender=None, action_ids=[action_id], routed=routed))


def announce_changed(action_ids) -> None:
    """After commit, say that these actions changed (one announcement for a batch)."""
    action_ids = list(action_ids)
    if action_ids:
        transaction.on_commit(partial(actions_changed.send, sender=None, action_ids=action_ids))
