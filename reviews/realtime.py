"""Every websocket push of the reviewer workspace: group names and the broadcast functions.

A push carries the queue row rendered from the same partial the page uses, or tells the page to
drop the row. It is a hint: a page that reconnects re-fetches its queue, so nothing missed while
it was offline stays missing.
"""

import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from hitl.models import Action

from .selectors import ReviewerScope, queue_tab_of

log = logging.getLogger(__name__)

EVERYTHING = "reviews.all"


def group_of_reviewers(key: str) -> str:
    return f"reviews.group.{key}"


def group_of_tier(tier: str) -> str:
    return f"reviews.tier.{tier}"


def groups_for(scope: ReviewerScope) -> list[str]:
    """The groups a reviewer's socket joins: exactly what their scope covers."""
    if scope.everything:
        return [EVERYTHING]
    return [group_of_reviewers(key) for key in sorted(scope.groups)] + [
        group_of_tier(tier) for tier in sorted(scope.lower_tiers)
    ]


def _groups_seeing(action: Action) -> list[str]:
    groups = [EVERYTHING, group_of_reviewers(action.reviewer_group)]
    return groups + [group_of_tier(action.route_tier)] if action.route_tier else groups


def broadcast_action_on_commit(action_id) -> None:
    """After commit, show every reviewer who may see it the action's row as it is now."""
    transaction.on_commit(partial(broadcast_action, action_id))


def broadcast_action(action_id) -> None:
    action = Action.objects.select_related("action_type", "agent", "claim__holder").filter(pk=action_id).first()
    if action is None or not action.reviewer_group:
        return
    now = timezone.now()
    tab = queue_tab_of(action, now)
    message = {"type": "queue.row", "id": str(action.pk), "tab": tab or "", "op": "upsert" if tab else "remove"}
    if tab:
        message.update(
            due=action.due_at.isoformat(),
            tier=action.route_tier,
            group=action.reviewer_group,
            action_type=action.action_type.key,
            agent=action.agent.name,
            html=render_to_string("reviews/_queue_row.html", {"action": action, "now": now}),
        )
    layer = get_channel_layer()
    try:
        for group in _groups_seeing(action):
            async_to_sync(layer.group_send)(group, message)
    except Exception:  # a lost push is repaired by the page's next fetch
        log.warning("could not push the change of action %s", action_id, exc_info=True)
