"""Wakes agents long-polling an action: a message on the Channels layer, sent after commit.

The message is a hint; the waiter always re-reads the action from the database.
"""

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial

from channels.layers import get_channel_layer
from django.db import transaction

from . import pubsub


def group_name(action_id) -> str:
    return f"action.{str(action_id).replace('-', '')}"


def action_changed_on_commit(action_id) -> None:
    actions_changed_on_commit([action_id])


def actions_changed_on_commit(action_ids) -> None:
    """After commit, wake the waiters of every action in `action_ids`, in one hand-off to the
    publishing loop (the SLA sweep wakes a batch at once)."""
    groups = [group_name(action_id) for action_id in action_ids]
    transaction.on_commit(partial(pubsub.publish, groups, {"type": "action.changed"}))


async def wait_for_change(action_id, *, timeout: float, still_pending: Callable[[], Awaitable[bool]]) -> None:
    """Return when the action may have changed, or after `timeout` seconds. Holds no thread.

    Subscribes first and then asks `still_pending()`, so a change between the caller's read and
    the subscription is not missed.
    """
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = group_name(action_id)
    await layer.group_add(group, channel)
    try:
        if await still_pending():
            await asyncio.wait_for(layer.receive(channel), timeout)
    except TimeoutError:
        pass
    finally:
        await layer.group_discard(group, channel)
