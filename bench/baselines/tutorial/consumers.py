"""The tutorial's consumer (part 2, synchronous), writing each message before broadcasting it."""

import json

from asgiref.sync import async_to_sync
from channels.generic.websocket import WebsocketConsumer

from bench.baselines.tutorial.models import ChatMessage


class ChatConsumer(WebsocketConsumer):
    def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        async_to_sync(self.channel_layer.group_add)(self.room_group_name, self.channel_name)
        self.accept()

    def disconnect(self, close_code):
        async_to_sync(self.channel_layer.group_discard)(self.room_group_name, self.channel_name)

    def receive(self, text_data):
        data = json.loads(text_data)
        ChatMessage.objects.create(
            room=self.room_name, body=data["body"], client_id=data["client_id"]
        )
        async_to_sync(self.channel_layer.group_send)(
            self.room_group_name,
            {
                "type": "chat.message",
                "room": data["room"],
                "body": data["body"],
                "client_id": data["client_id"],
            },
        )

    def chat_message(self, event):
        message = {"room": event["room"], "body": event["body"], "client_id": event["client_id"]}
        self.send(
            text_data=json.dumps({"type": "message", "room": event["room"], "message": message})
        )
