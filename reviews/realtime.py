"""Every websocket push of the reviewer workspace.

A change publishes a small hint (the action's id and a stamp), batched with the other changes of
the same 50 ms: it costs the request that made the change no query, no rendering and no wait.
Each web process renders the action's queue row once per hint, from the same partial the page
uses, and every reviewer socket there forwards it when its reviewer may see the action. A push is
only a hint for the page too: a page that reconnects re-fetches its queue, so nothing missed while
it was offline stays missing.
"""

import asyncio
import time
from collections import OrderedDict
from functools import partial

from channels.db import database_sync_to_async
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from hitl import pubsub
from hitl.models import Action

from .selectors import ReviewerScope, queue_tab_of, with_approvals

QUEUE = "reviews.queue"  # every reviewer socket joins it
_RENDERED_KEPT = 256
_rendered: OrderedDict[tuple[str, int], asyncio.Future] = OrderedDict()  # per process, on its event loop


def broadcast_on_commit(action_ids) -> None:
    """After commit, show every reviewer who may see them these actions' rows as they are now."""
    transaction.on_commit(partial(broadcast, list(action_ids)))


def broadcast_routed(action_ids, *, routed: bool, **signal_kwargs) -> None:
    """The core's hitl.events.action_submitted: push a new action that a reviewer group reviews."""
    if routed:
        broadcast(action_ids)


def broadcast(action_ids, **signal_kwargs) -> None:
    """Show every reviewer who may see them these actions' rows as they are now (also the receiver
    of the core's hitl.events, after commit), in one hand-off however many."""
    stamp = time.time_ns()
    pubsub.publish_batched(QUEUE, "queue.rows", [{"id": str(action_id), "stamp": stamp} for action_id in action_ids])


def latest_hints(batch: dict) -> list[dict]:
    """The batch's hints, one per action (its latest), in the order of those latest changes."""
    latest = {}
    for hint in batch["items"]:
        latest.pop(hint["id"], None)
        latest[hint["id"]] = hint
    return list(latest.values())


async def row_for(hint: dict, scope: ReviewerScope) -> dict | None:
    """What one reviewer's page is sent for a hint: the row, that it must go (it left their queue,
    or they approved the payload it waits with), or nothing when the reviewer may not see it."""
    row = await _row(hint["id"], hint["stamp"])
    if row.get("group") is None or not scope.covers_route(group=row["group"], tier=row["tier"]):
        return None
    if scope.user_id in row.get("approved_by", ()):
        return {"op": "remove", "id": row["id"], "version": row["version"]}
    return row


def _row(action_id: str, stamp: int) -> asyncio.Future:
    """The action's row message, rendered once per hint in this process."""
    key = (action_id, stamp)
    if key not in _rendered:
        _rendered[key] = asyncio.ensure_future(database_sync_to_async(row_message)(action_id))
        while len(_rendered) > _RENDERED_KEPT:
            _rendered.popitem(last=False)
    return _rendered[key]


def row_message(action_id) -> dict:
    """The queue row of the action as it is now, or a removal when no queue tab shows it."""
    action = Action.objects.select_related("action_type", "agent", "claim__holder").filter(pk=action_id).first()
    now = timezone.now()
    if action is None:
        return {"op": "remove", "id": str(action_id), "group": None}
    tab = queue_tab_of(action, now)
    if not tab:
        return {
            "op": "remove",
            "id": str(action_id),
            "group": action.reviewer_group,
            "tier": action.route_tier,
            "version": action.version,
        }
    with_approvals([action])
    claim = getattr(action, "claim", None)
    return {
        "op": "upsert",
        "id": str(action.pk),
        "version": action.version,
        "tab": tab,
        "due": action.due_at.isoformat(),
        "created": action.created_at.isoformat(),
        "confidence": action.confidence,
        "tier": action.route_tier,
        "group": action.reviewer_group,
        "action_type": action.action_type.key,
        "agent": action.agent.name,
        "holder": claim.holder_id if claim is not None and claim.expires_at > now else None,
        "approved_by": [v.reviewer_id for v in action.approvals.approvers] if action.approvals else [],
        "html": render_to_string("reviews/_queue_row.html", {"action": action, "now": now}),
    }


def broadcast_toast_on_commit(group_key: str, text: str, url: str) -> None:
    """After commit, show the members of reviewer group `group_key` a dismissable message linking to `url`."""
    item = {"group": group_key, "text": text, "url": url}
    transaction.on_commit(partial(pubsub.publish_batched, QUEUE, "queue.toasts", [item]))


def broadcast_notice_on_commit(user_ids, text: str, url: str, *, action_id=None, reload: bool = False) -> None:
    """After commit, show these reviewers (by user id) a dismissable message linking to `url`;
    with `reload`, their open page of action `action_id` shows it afresh."""
    item = {"users": sorted(set(user_ids)), "text": text, "url": url, "action": str(action_id or ""), "reload": reload}
    transaction.on_commit(partial(pubsub.publish_batched, QUEUE, "queue.toasts", [item]))


def access_changed_on_commit(user_ids, *, ended_session: str = "") -> None:
    """After commit, have the open sockets of these users check their access again (closed when
    `ended_session` is theirs: it logged out)."""
    item = {"users": sorted(set(user_ids)), "session": ended_session}
    transaction.on_commit(partial(pubsub.publish_batched, QUEUE, "queue.access", [item]))


def toast_for(toast: dict, scope: ReviewerScope, user_id) -> dict | None:
    """What one reviewer's page is sent for a toast: the toast when it is for their group, or for them."""
    if toast.get("group") in scope.groups or user_id in toast.get("users", ()):
        message = {"op": "toast", "text": toast["text"], "url": toast["url"]}
        if toast.get("action"):
            message.update(action=toast["action"], reload=toast.get("reload", False))
        return message
    return None
