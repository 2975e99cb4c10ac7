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
        # ?all=1 (the lead dashboard): also told that something changed, whatever the row, since its
        # figures count every tier's actions. Only for leads; it carries no action's content.
        lead = self.reviewer_scope.everything or bool(self.reviewer_scope.lower_tiers)
        self.every_change = lead and b"all=1" in self.scope.get("query_string", b"").split(b"&")
        await self.channel_layer.group_add(realtime.QUEUE, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(realtime.QUEUE, self.channel_name)

    async def queue_rows(self, batch):
        if self.every_change:
            await self.send(text_data=json.dumps({"op": "changed"}))
        for hint in realtime.latest_hints(batch):
            message = await realtime.row_for(hint, self.reviewer_scope)
            if message is not None:
                await self.send(text_data=json.dumps(message))

    async def queue_toasts(self, batch):
        for toast in batch["items"]:
            message = realtime.toast_for(toast, self.reviewer_scope, self.user_id)
            if message is not None:
                await self.send(text_data=json.dumps(message))
