"""Wakes agents long-polling an action: a message on the Channels layer, sent after commit.

The message is a hint; the waiter always re-reads the action from the database.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def group_name(action_id) -> str:
    return f"action.{str(action_id).replace('-', '')}"


def action_changed_on_commit(action_id) -> None:
    transaction.on_commit(partial(_publish, action_id))


def _publish(action_id) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(group_name(action_id), {"type": "action.changed"})
    except Exception:  # a lost wake-up only delays a waiter until its timeout
        log.warning("could not publish the change of action %s", action_id, exc_info=True)


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
