"""ASGI entry point: HTTP (Django, including the async long-poll) and the reviewers' websockets."""

import asyncio
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitl.settings.local")

django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from hitl import pubsub  # noqa: E402
from reviews.websocket_urls import websocket_urlpatterns  # noqa: E402


class _RecordServerLoop:
    """Lets sync code publish on the server's event loop without waiting (hitl.pubsub)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        pubsub.use_server_loop(asyncio.get_running_loop())
        return await self.app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": _RecordServerLoop(django_application),
        # Sockets need a logged-in session (checked by the consumer) and an Origin in ALLOWED_HOSTS.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
