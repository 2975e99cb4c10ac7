"""The reviewer's live queue socket: joins the groups of the reviewer's scope and forwards rows."""

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from . import realtime
from .selectors import reviewer_scope

UNAUTHORISED = 4401


class QueueConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHORISED)
            return
        scope = await database_sync_to_async(reviewer_scope)(user)
        self.joined = realtime.groups_for(scope)
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def queue_row(self, event):
        await self.send(text_data=json.dumps({k: v for k, v in event.items() if k != "type"}))
