"""The reviewer's live queue socket: forwards the pushed rows its reviewer may see, for as long as
they may.

Access is checked at connect and again whenever it may have changed: at once when the reviewer
logs out, is deactivated or changes password, or their groups change (reviews.revocation), and
before a push when the last check is older than RECHECK_SECONDS (a lost notice, a session that
timed out, a policy edit). A socket whose session no longer holds an active reviewer closes with
4401 (the page reloads, so the login page shows); one whose scope changed closes with 4403 and the
page reconnects and fetches its queue afresh, as the new scope shows it.
"""

import json
import time
from importlib import import_module

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare

from . import realtime
from .selectors import reviewer_scope

UNAUTHORISED = 4401  # no longer logged in as an active user: the page reloads
SCOPE_CHANGED = 4403  # still logged in, with other groups: the page reconnects and fetches afresh
RECHECK_SECONDS = 30


class QueueConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHORISED)
            return
        self.user_id = user.pk
        self.session_key = self.scope["session"].session_key
        await database_sync_to_async(self._scope_for)(user)
        await self.channel_layer.group_add(realtime.QUEUE, self.channel_name)
        await self.accept()

    def _scope_for(self, user) -> None:
        self.reviewer_scope = reviewer_scope(user)
        # ?all=1 (the lead dashboard): also told that something changed, whatever the row, since its
        # figures count every tier's actions. Only for leads; it carries no action's content.
        lead = self.reviewer_scope.everything or bool(self.reviewer_scope.lower_tiers)
        self.every_change = lead and b"all=1" in self.scope.get("query_string", b"").split(b"&")
        self.checked_at = time.monotonic()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(realtime.QUEUE, self.channel_name)

    async def queue_rows(self, batch):
        if not await self._allowed():
            return
        if self.every_change:
            await self.send(text_data=json.dumps({"op": "changed"}))
        for hint in realtime.latest_hints(batch):
            message = await realtime.row_for(hint, self.reviewer_scope)
            if message is not None:
                await self.send(text_data=json.dumps(message))

    async def queue_toasts(self, batch):
        if not await self._allowed():
            return
        for toast in batch["items"]:
            message = realtime.toast_for(toast, self.reviewer_scope, self.user_id)
            if message is not None:
                await self.send(text_data=json.dumps(message))

    async def queue_access(self, batch):
        """Some users' access may have changed: if this socket's is among them, check it now."""
        mine = [item for item in batch["items"] if self.user_id in item["users"]]
        if any(item["session"] and item["session"] == self.session_key for item in mine):
            await self.close(code=UNAUTHORISED)  # this session logged out
        elif mine:
            await self._allowed(now=True)

    async def _allowed(self, *, now: bool = False) -> bool:
        """Whether this socket may still forward pushes (checked again when `now` or when the last
        check is old); closes it when not."""
        if not now and time.monotonic() - self.checked_at < RECHECK_SECONDS:
            return True
        before = _sees(self.reviewer_scope)
        user = await database_sync_to_async(self._user_still_here)()
        if user is None:
            await self.close(code=UNAUTHORISED)
            return False
        await database_sync_to_async(self._scope_for)(user)
        if _sees(self.reviewer_scope) != before:
            await self.close(code=SCOPE_CHANGED)
            return False
        return True

    def _user_still_here(self):
        """The socket's user, when its session still holds them, active, with the same password."""
        session = import_module(settings.SESSION_ENGINE).SessionStore(self.session_key).load()
        if str(session.get(SESSION_KEY)) != str(self.user_id):
            return None  # logged out, expired or flushed
        user = get_user_model().objects.filter(pk=self.user_id, is_active=True).first()
        if user is None or not constant_time_compare(session.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()):
            return None
        return user


def _sees(scope) -> tuple:
    return scope.everything, scope.groups, scope.lower_tiers
