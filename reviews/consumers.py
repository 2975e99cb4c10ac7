"""The reviewer's live queue socket: forwards the pushed rows its reviewer may see."""

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
        self.user_id = user.pk
        self.reviewer_scope = await database_sync_to_async(reviewer_scope)(user)
        await self.channel_layer.group_add(realtime.QUEUE, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(realtime.QUEUE, self.channel_name)

    async def queue_rows(self, batch):
        for hint in realtime.latest_hints(batch):
            message = await realtime.row_for(hint, self.reviewer_scope)
            if message is not None:
                await self.send(text_data=json.dumps(message))

    async def queue_toasts(self, batch):
        for toast in batch["items"]:
            message = realtime.toast_for(toast, self.reviewer_scope, self.user_id)
            if message is not None:
                await self.send(text_data=json.dumps(message))
