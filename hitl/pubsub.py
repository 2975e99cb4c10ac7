"""Publish on the Channels layer without waiting: live pushes and long-poll wake-ups are hints.

Sync code (views, services after commit, Celery tasks) hands each message to an event loop and
returns at once, instead of blocking its thread for a hop to a loop and a Redis round trip. In a
web process that loop is the server's own (recorded by hitl.asgi); elsewhere it is one background
thread's. A message lost on the way (Redis down, process exit) only delays a waiter until its
timeout or a page until its next fetch.
"""

import asyncio
import logging
import os
import threading

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

_server_loop: asyncio.AbstractEventLoop | None = None
_own_loop: asyncio.AbstractEventLoop | None = None
_own_loop_pid = 0  # a forked child (Celery prefork) inherits the loop but not the thread running it
_lock = threading.Lock()
_sending: set[asyncio.Task] = set()  # strong references until each send is done


def use_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _server_loop
    _server_loop = loop


BATCH_SECONDS = 0.05
_batches: dict[tuple, list] = {}  # (loop, group, message type) -> items; each touched on its loop only


def publish(groups: list[str], message: dict) -> None:
    """Send `message` to every group in `groups`, in the background."""
    _loop().call_soon_threadsafe(_start, groups, message)


def publish_batched(group: str, message_type: str, items: list[dict]) -> None:
    """Send `items` to `group` within BATCH_SECONDS, in one message {"type": message_type, "items":
    [...]} with the other items published meanwhile: one Redis publish for a burst of changes."""
    _loop().call_soon_threadsafe(_add, group, message_type, items)


def _loop() -> asyncio.AbstractEventLoop:
    return _server_loop if _server_loop is not None and _server_loop.is_running() else _background_loop()


def _add(group: str, message_type: str, items: list[dict]) -> None:
    loop = asyncio.get_running_loop()
    key = (loop, group, message_type)
    batch = _batches.setdefault(key, [])
    if not batch:
        loop.call_later(BATCH_SECONDS, _flush, key)
    batch.extend(items)


def _flush(key: tuple) -> None:
    _, group, message_type = key
    _start([group], {"type": message_type, "items": _batches.pop(key)})


def _start(groups: list[str], message: dict) -> None:
    task = asyncio.ensure_future(_send(groups, message))
    _sending.add(task)
    task.add_done_callback(_sending.discard)


async def _send(groups: list[str], message: dict) -> None:
    layer = get_channel_layer()
    try:
        await asyncio.gather(*(layer.group_send(group, message) for group in groups))
    except Exception:
        log.warning("could not publish to %s", ", ".join(groups), exc_info=True)


def _background_loop() -> asyncio.AbstractEventLoop:
    global _own_loop, _own_loop_pid
    with _lock:
        if _own_loop is None or _own_loop_pid != os.getpid():
            _own_loop = asyncio.new_event_loop()
            _own_loop_pid = os.getpid()
            threading.Thread(target=_own_loop.run_forever, name="hitl-publisher", daemon=True).start()
        return _own_loop
