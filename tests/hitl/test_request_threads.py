"""hitl.asgi reuses request threads: a request whose client went away while its sync code still
runs must not hand that busy thread to the next request."""

import asyncio
import time

from asgiref.sync import sync_to_async

from hitl.asgi import _ReuseRequestThreads


async def app(scope, receive, send):
    """Sync work of the length the path asks for, on the request's thread."""
    await sync_to_async(time.sleep)(float(scope["path"].strip("/")))


def test_a_cancelled_slow_request_does_not_hold_up_the_next():
    async def scenario():
        threads = _ReuseRequestThreads(app)
        slow = asyncio.create_task(threads({"type": "http", "path": "/2"}, None, None))
        await asyncio.sleep(0.2)
        slow.cancel()  # as Django does when the client disconnects: the sleep goes on in its thread
        await asyncio.gather(slow, return_exceptions=True)  # its cancellation handled before the next
        started = time.monotonic()
        await threads({"type": "http", "path": "/0"}, None, None)
        quick = time.monotonic() - started
        await threads({"type": "http", "path": "/0"}, None, None)  # a finished request's thread is reused
        return quick, len(threads.idle)

    quick, idle = asyncio.run(scenario())
    assert quick < 1, f"the next request waited {quick:.1f} s for the cancelled one's thread"
    assert idle == 1
