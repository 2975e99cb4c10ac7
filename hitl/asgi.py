"""ASGI entry point: HTTP (Django, including the async long-poll) and the reviewers' websockets."""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.urls import Resolver404, resolve

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitl.settings.local")
django.setup(set_prefix=False)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from hitl import pubsub  # noqa: E402
from hitl.middleware import static_files_left_out  # noqa: E402
from mcpgate.server import HttpEndpoint  # noqa: E402
from reviews.websocket_urls import websocket_urlpatterns  # noqa: E402


class _OneTripHandler(ASGIHandler):
    """Django's ASGI handler, taking a request for a sync view to its thread once.

    Django's async handler takes each sync hook of each middleware (security, CSRF, framing) and
    then the view to the request's thread one trip at a time, a tenth of a millisecond or more
    each: eight trips for a submit. Here a request for a sync view runs Django's sync handler
    (the same middleware, loaded for sync) in one trip. Static files and async views (the
    long-poll, which must hold no thread while it waits) keep Django's async chain.
    """

    def __init__(self):
        super().__init__()
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/")
        self.sync_handler = BaseHandler()
        with static_files_left_out():  # static paths never reach it
            self.sync_handler.load_middleware(is_async=False)

    async def get_response_async(self, request):
        path = request.path_info
        if path.startswith(self.static_prefix) or _async_view(path):
            return await super().get_response_async(request)
        return await sync_to_async(self.sync_handler.get_response)(request)


def _async_view(path: str) -> bool:
    try:
        return iscoroutinefunction(resolve(path).func)
    except Resolver404:
        return False


django_application = _OneTripHandler()


class _ReuseRequestThreads:
    """Runs each HTTP request's sync code on a thread that earlier requests used, not a new one.

    Django gives every request a thread of its own for its sync code (middleware hooks, sync
    views, the ORM), so that one request's sync calls never run on two threads at once. It starts
    that thread on the request's first trip to sync code and, after the response, joins it from yet
    another new thread, which the request awaits: two thread starts and a join on every request,
    as much as half of a plain GET's time. Here each request takes an idle single-thread executor
    (or makes one) and gives it back when it is done: still one thread per request in flight, and
    no other request's code on it meanwhile. At most KEEP idle ones are kept. A request that ends
    in an exception or is cancelled (its client went away) may leave sync code running on its
    thread, so that executor is never given to another request.
    """

    KEEP = 64

    def __init__(self, app):
        self.app = app
        self.idle: list[ThreadPoolExecutor] = []

    async def __call__(self, scope, receive, send):
        executor = self.idle.pop() if self.idle else ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                result = await self.app(scope, receive, send)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        if len(self.idle) < self.KEEP:
            self.idle.append(executor)
        else:
            executor.shutdown(wait=False)
        return result


class _RecordServerLoop:
    """Lets sync code publish on the server's event loop without waiting (hitl.pubsub)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        pubsub.use_server_loop(asyncio.get_running_loop())
        return await self.app(scope, receive, send)


class _McpAt:
    """Requests to `path` (the MCP endpoint, mcpgate) go to `mcp`; every other one to `app`."""

    def __init__(self, path: str, mcp, app):
        self.path, self.mcp, self.app = path, mcp, app

    async def __call__(self, scope, receive, send):
        if scope["path"].rstrip("/") == self.path:
            return await self.mcp(scope, receive, send)
        return await self.app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": _RecordServerLoop(_McpAt("/mcp", HttpEndpoint(), _ReuseRequestThreads(django_application))),
        # Sockets need a logged-in session (checked by the consumer) and an Origin in ALLOWED_HOSTS.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
