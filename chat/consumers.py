"""The chat socket: one per browser tab, carrying every room the user belongs to.

Thin by design: each frame type has one small handler that validates the frame's shape and calls
a service or query; identity comes from the scope (or a ticket), never from a frame."""

import asyncio
import json
import uuid

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.services import socket_ticket_redeem
from chat import presence, queries, realtime, services
from chat.errors import BadRequest, ChatError, NotFound
from chat.models import BIGINT_MAX
from chat.serializers import message_dict, room_dict

CLOSE_TOO_BIG = 1009
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_AUTH_TIMEOUT = 4408
CLOSE_TOO_MANY = 4429


def _id(frame: dict, field: str) -> int:
    value = frame.get(field)
    if type(value) is not int or not 1 <= value <= BIGINT_MAX:
        raise BadRequest(f"'{field}' must be an id (a positive integer).")
    return value


def _room_id(frame: dict) -> int:
    return _id(frame, "room")


def _seq(frame: dict, field: str, *, required: bool) -> int | None:
    value = frame.get(field)
    if value is None and not required:
        return None
    if type(value) is not int or not 0 <= value <= BIGINT_MAX:
        raise BadRequest(f"'{field}' must be a seq number (an integer >= 0).")
    return value


def _limit(frame: dict) -> int:
    value = frame.get("limit", queries.HISTORY_PAGE)
    if type(value) is not int or not 1 <= value <= queries.HISTORY_MAX:
        raise BadRequest(f"'limit' must be an integer from 1 to {queries.HISTORY_MAX}.")
    return value


def _client_id(frame: dict) -> uuid.UUID:
    value = frame.get("client_id")
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise BadRequest("'client_id' must be a UUID string.")


class ChatConsumer(AsyncWebsocketConsumer):
    user = None
    rooms: set[int]
    groups_joined: list[str]
    auth_timer = None

    async def connect(self):
        self.rooms = set()
        self.groups_joined = []
        await self.accept()
        auth = self.scope.get("auth", {"method": "none"})
        if auth["method"] == "bad_origin":
            await self.close(code=CLOSE_FORBIDDEN)
        elif auth["method"] in {"session", "token"}:
            if not self.scope["user"].is_authenticated:
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return
            session = self.scope.get("session")
            await self.start(
                self.scope["user"],
                session_key=session.session_key if session else "",
                token_id=auth.get("token_id"),
            )
        elif auth["method"] == "none":
            self.auth_timer = asyncio.get_running_loop().call_later(
                settings.CHAT_AUTH_TIMEOUT, lambda: asyncio.ensure_future(self.auth_timeout())
            )
        else:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def dispatch(self, message):
        """Channels' dispatch, without its hop to the database thread before every event: each
        database call here goes through database_sync_to_async, which closes stale connections
        itself, so live deliveries never queue behind database work."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def auth_timeout(self):
        if self.user is None:
            await self.close(code=CLOSE_AUTH_TIMEOUT)

    async def start(self, user, *, session_key: str, token_id: int | None):
        """Subscribe an authenticated socket to its revocation groups and rooms; say hello."""
        if not await database_sync_to_async(presence.socket_open)(user_id=user.id):
            await self.send_json(
                {
                    "type": "error",
                    "code": "too_many_sockets",
                    "detail": "Too many open connections; close another tab.",
                }
            )
            await self.close(code=CLOSE_TOO_MANY)
            return
        self.user = user
        groups = [realtime.user_group(user.id)]
        if session_key:
            groups.append(realtime.session_group(session_key))
        if token_id:
            groups.append(realtime.token_group(token_id))
        rooms = await database_sync_to_async(queries.rooms_for_user)(user=user)
        groups += [realtime.room_group(room.id) for room in rooms]
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = groups
        self.rooms = {room.id for room in rooms}
        await self.send_json(
            {
                "type": "hello",
                "user": {
                    "id": user.id,
                    "username": user.username,
                    "display_name": user.display_name,
                },
                "rooms": [room_dict(room, title=room.title) for room in rooms],
            }
        )

    async def disconnect(self, code):
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.user is not None:
            await database_sync_to_async(presence.socket_close)(user_id=self.user.id)

    async def send_json(self, content: dict):
        await self.send(text_data=json.dumps(content))

    async def receive(self, text_data=None, bytes_data=None):
        if bytes_data is not None:
            if len(bytes_data) > settings.CHAT_FRAME_MAX_BYTES:
                await self.close(code=CLOSE_TOO_BIG)
            elif self.user is None:
                await self.close(code=CLOSE_UNAUTHENTICATED)
            else:
                await self.send_json(BadRequest("Frames are JSON text, not binary.").as_frame())
            return
        limit = settings.CHAT_FRAME_MAX_BYTES
        if len(text_data) * 4 > limit and len(text_data.encode()) > limit:
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            frame = None
        if self.user is None:
            await self.authenticate(frame)
            return
        try:
            if not isinstance(frame, dict):
                raise BadRequest("A frame is a JSON object with a 'type'.")
            handler = (
                self.handlers.get(frame.get("type")) if isinstance(frame.get("type"), str) else None
            )
            if handler is None:
                raise BadRequest("Unknown frame type.")
            await handler(self, frame)
        except ChatError as error:
            await self.send_json(error.as_frame())

    async def authenticate(self, frame):
        """A socket without credentials must send {"type": "auth", "ticket": ...} first."""
        if not isinstance(frame, dict) or frame.get("type") != "auth":
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        ticket = await database_sync_to_async(socket_ticket_redeem)(key=frame.get("ticket"))
        if ticket is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.auth_timer.cancel()
        await self.start(ticket.user, session_key=ticket.session_key, token_id=ticket.token_id)

    # Frames from the client. Each names its room and is authorised against membership now.

    async def on_send(self, frame):
        room_id = _room_id(frame)
        client_id = _client_id(frame)
        try:
            message, created = await database_sync_to_async(services.message_store)(
                author=self.user, room_id=room_id, body=frame.get("body"), client_id=client_id
            )
        except ChatError as error:
            error.extra["client_id"] = str(client_id)
            raise
        data = message_dict(message)
        if created:
            await realtime.message_broadcast_async(data)
        if not created or room_id not in self.rooms:
            # A resend, or a room this socket is not subscribed to (yet): no broadcast reaches
            # this socket, so answer it directly.
            await self.send_json({"type": "message", "room": room_id, "message": data})

    async def on_history(self, frame):
        room_id = _room_id(frame)
        before = _seq(frame, "before", required=False)
        limit = _limit(frame)
        messages, has_more = await database_sync_to_async(self._messages_before)(
            room_id, before, limit
        )
        await self.send_json(
            {"type": "history", "room": room_id, "messages": messages, "has_more": has_more}
        )

    def _messages_before(self, room_id, before, limit):
        queries.room_for_member(user=self.user, room_id=room_id)
        messages, has_more = queries.messages_before(room_id=room_id, before=before, limit=limit)
        return [message_dict(m) for m in messages], has_more

    async def on_sync(self, frame):
        room_id = _room_id(frame)
        after = _seq(frame, "after", required=True)
        messages, has_more = await database_sync_to_async(self._messages_after)(room_id, after)
        await self.send_json(
            {"type": "sync", "room": room_id, "messages": messages, "has_more": has_more}
        )

    def _messages_after(self, room_id, after):
        queries.room_for_member(user=self.user, room_id=room_id)
        messages, has_more = queries.messages_after(room_id=room_id, after=after)
        return [message_dict(m) for m in messages], has_more

    async def on_edit(self, frame):
        await database_sync_to_async(services.message_edit)(
            editor=self.user,
            room_id=_room_id(frame),
            message_id=_id(frame, "id"),
            body=frame.get("body"),
        )

    async def on_delete(self, frame):
        await database_sync_to_async(services.message_delete)(
            actor=self.user, room_id=_room_id(frame), message_id=_id(frame, "id")
        )

    async def on_read(self, frame):
        room_id = _room_id(frame)
        seq = _seq(frame, "seq", required=True)
        await database_sync_to_async(services.room_mark_read)(
            user=self.user, room_id=room_id, seq=seq
        )

    async def on_typing(self, frame):
        room_id = _room_id(frame)
        if room_id not in self.rooms or not await database_sync_to_async(queries.is_member)(
            user=self.user, room_id=room_id
        ):
            raise NotFound("No such room.")
        await self.channel_layer.group_send(
            realtime.room_group(room_id),
            {
                "type": "chat.typing",
                "room": room_id,
                "user": self.user.id,
                "display_name": self.user.display_name,
            },
        )

    async def on_ping(self, frame):
        await self.send_json({"type": "pong"})

    handlers = {
        "send": on_send,
        "history": on_history,
        "sync": on_sync,
        "edit": on_edit,
        "delete": on_delete,
        "read": on_read,
        "typing": on_typing,
        "ping": on_ping,
    }

    # Events from the channel layer.

    async def chat_message(self, event):
        if event["room"] in self.rooms:
            await self.send(text_data=event["frame"])

    async def chat_typing(self, event):
        if event["room"] in self.rooms and event["user"] != self.user.id:
            await self.send_json(
                {
                    "type": "typing",
                    "room": event["room"],
                    "user": event["user"],
                    "display_name": event["display_name"],
                }
            )

    async def room_added(self, event):
        room_id = event["room"]
        if room_id in self.rooms:
            return
        rooms = await database_sync_to_async(queries.rooms_for_user)(
            user=self.user, room_id=room_id
        )
        if not rooms:
            return
        await self.channel_layer.group_add(realtime.room_group(room_id), self.channel_name)
        self.groups_joined.append(realtime.room_group(room_id))
        self.rooms.add(room_id)
        await self.send_json(
            {"type": "room.added", "room": room_dict(rooms[0], title=rooms[0].title)}
        )

    async def room_removed(self, event):
        room_id = event["room"]
        if room_id not in self.rooms:
            return
        if await database_sync_to_async(queries.is_member)(user=self.user, room_id=room_id):
            return  # stale event: the user is a member again
        group = realtime.room_group(room_id)
        await self.channel_layer.group_discard(group, self.channel_name)
        self.rooms.discard(room_id)
        if group in self.groups_joined:
            self.groups_joined.remove(group)
        await self.send_json({"type": "room.removed", "room": room_id})

    async def auth_revoked(self, event):
        await self.send_json(
            {
                "type": "error",
                "code": "unauthenticated",
                "detail": "Your session ended; sign in again.",
            }
        )
        await self.close(code=CLOSE_UNAUTHENTICATED)
