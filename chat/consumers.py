"""The chat socket: one per browser tab, carrying every room the user belongs to.

Thin by design: each frame type has one small handler that validates the frame's shape and calls
a service or query; identity comes from the scope (or a ticket), never from a frame."""

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import InterfaceError, OperationalError
from redis.exceptions import RedisError

from accounts.credentials import Credential, credential_user, credentials_valid
from accounts.services import socket_ticket_redeem, time_zone_report, time_zone_valid
from chat import access, presence, queries, ratelimit, services, sockets
from chat.db import in_database_thread
from chat.errors import BadRequest, ChatError, NotFound, RateLimited
from chat.message_writer import message_writer
from chat.models import BIGINT_MAX, Message
from chat.serializers import (
    card_dict,
    member_dict,
    message_dicts,
    message_frame,
    public_room_dict,
    room_dict,
    room_event_frame,
)
from chat.typing_notices import room_small_find, room_small_known, typing_due, typing_reset
from realtime import publisher
from realtime.eager import start_eagerly
from realtime.hub import hub
from realtime.wire import SERVER_SEND, direct_writer, frame_bytes, wire_bytes

logger = logging.getLogger(__name__)

CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_AUTH_TIMEOUT = 4408
CLOSE_TOO_MANY = 4429


# Frames are flat objects; deeper nesting than this is refused before anything walks it.
FRAME_MAX_DEPTH = 4
# Stands for a revocation marker that could not be read: never equal to one that was.
_UNKNOWN = object()
# Faults of the database or Redis (the channel layer, rate limits, socket counts): a frame that
# meets one is answered `unavailable`, which a client retries.
_OUTAGES = (OperationalError, InterfaceError, RedisError, ConnectionError, TimeoutError)


def _parse(text: str):
    """The frame's JSON value, or None when it is not JSON or is nested too deeply."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    # A text with no more opening brackets than the limit cannot be nested deeper: most frames
    # are a flat object, and need no walk.
    if text.count("{") + text.count("[") <= FRAME_MAX_DEPTH:
        return value
    return value if _depth_within(value, FRAME_MAX_DEPTH) else None


def _depth_within(value, limit: int) -> bool:
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return True
    return limit > 0 and all(_depth_within(item, limit - 1) for item in value)


def _id(frame: dict, field: str) -> int:
    value = frame.get(field)
    if type(value) is not int or not 1 <= value <= BIGINT_MAX:
        raise BadRequest(f"'{field}' must be an id (a positive integer).")
    return value


def _optional_id(frame: dict, field: str) -> int | None:
    return None if frame.get(field) is None else _id(frame, field)


def _room_id(frame: dict) -> int:
    return _id(frame, "room")


# Most people one `presence` frame may ask about.
PRESENCE_QUERY_MAX = 100


def _user_ids(frame: dict) -> list[int]:
    value = frame.get("users")
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= PRESENCE_QUERY_MAX
        or not all(type(item) is int and 1 <= item <= BIGINT_MAX for item in value)
    ):
        raise BadRequest(f"'users' must be a list of 1 to {PRESENCE_QUERY_MAX} user ids.")
    return sorted(set(value))


def _seq(frame: dict, field: str, *, required: bool) -> int | None:
    value = frame.get(field)
    if value is None and not required:
        return None
    if type(value) is not int or not 0 <= value <= BIGINT_MAX:
        raise BadRequest(f"'{field}' must be an integer >= 0 (a seq, or for sync a position).")
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
    """A socket, fed by this process's hub (realtime/hub.py) rather than by a channel of its own
    in the layer: the frames every member gets (a room's messages, typing, presence) are written
    as the publisher serialised them, from the hub's task, through a queue of this socket's
    (`outbox`); the events that change the socket's state (a room added or lost, a revocation)
    are handled one at a time, between the client's frames (`handling`), as Channels would.
    Once such an event waits, later frames queue behind it, so none overtakes a removal."""

    user = None
    credential: Credential | None = None
    rooms: set[int]
    seqs: dict[int, int]  # per room, the highest seq this socket was sent or told of
    accepted = False
    groups_joined: list[str]
    auth_timer = None
    marker = _UNKNOWN  # the user's revocation marker when the credential was last checked
    counted = False  # in the user's socket count
    closing = False
    close_task = None  # held so the close in progress is not garbage-collected
    revoked = False
    write_direct = None  # realtime.wire: frames to the transport as bytes, where it can be

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rooms = set()
        self.seqs = {}
        self.groups_joined = []
        # One write to the client at a time: the backstop's task may send too, and two writes
        # waiting on a client that is not reading would break the connection.
        self.send_lock = asyncio.Lock()
        # One client frame or state event handled at a time (in the order they came).
        self.handling = asyncio.Lock()
        self.events_pending = 0  # state events waiting for `handling`, or being handled
        self.released = False
        # Frames waiting for the client and the task writing them, both only while it runs (an
        # idle socket holds neither: 50,000 of them are held at about 30 KB each).
        self.outbox: deque | None = None
        self.writer = None

    @property
    def socket_id(self) -> str:
        return self.channel_name

    async def __call__(self, scope, receive, send):
        self.scope = scope
        self.base_send = send
        self.channel_layer = None  # the hub subscribes for the socket
        self.registry = sockets.registry()
        self.channel_name = f"socket.{uuid.uuid4().hex}"
        try:
            while True:
                message = await receive()
                async with self.handling:
                    await self.dispatch(message)
        except StopConsumer:
            pass
        except Exception:
            # The channel layer failed (Redis down) while subscribing the socket or reading its
            # channel: never an HTTP 500 or a bare 1011, but "try again".
            logger.exception("socket failed in the channel layer")
            await _refuse_try_again(receive, send, accepted=self.accepted)
        finally:
            await self.release()

    async def connect(self):
        await self.accept()
        self.accepted = True
        self.write_direct = direct_writer(self.scope.get(SERVER_SEND))
        auth = self.scope.get("auth", {"method": "none"})
        if auth["method"] == "bad_origin":
            await self.close(code=CLOSE_FORBIDDEN)
        elif auth["method"] in {"session", "token"}:
            await self.start(auth["credential"])
        elif auth["method"] == "none":
            self.auth_timer = asyncio.get_running_loop().call_later(
                settings.CHAT_AUTH_TIMEOUT, lambda: asyncio.ensure_future(self.auth_timeout())
            )
        else:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def dispatch(self, message):
        """Channels' dispatch, without its hop to the database thread before every event (each
        database call here goes through chat.db.in_database_thread), so live deliveries never
        queue behind database work. An event handler's failure is logged, and the socket
        lives."""
        if message["type"].startswith("websocket."):
            await getattr(self, get_handler_name(message))(message)
            return
        try:
            if message["type"] in self.instant:
                self.deliver_now(message)
            else:
                await getattr(self, get_handler_name(message))(message)
        except Exception:
            logger.exception("socket event %s failed", message["type"])
        finally:
            self.events_pending -= 1

    async def auth_timeout(self):
        if self.user is None:
            await self.close(code=CLOSE_AUTH_TIMEOUT)

    async def start(self, credential: Credential):
        """Admit an authenticated socket: subscribe it to its revocation groups first, then check
        the credential and load its user, so that no revocation can fall unheard between check
        and subscription; then count it, subscribe its rooms and say hello."""
        self.credential = credential
        revocation = [publisher.user_group(credential.user_id)]
        if credential.session_key:
            revocation.append(publisher.session_group(credential.session_key))
        if credential.token_id:
            revocation.append(publisher.token_group(credential.token_id))
        try:
            for group in revocation:
                await self.subscribe(group)
            admitted, user, rooms, status = await in_database_thread(self._admit)()
        except Exception:
            logger.exception("could not admit a socket")
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        if admitted == "unauthenticated":
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if admitted == "too_many":
            await self.send_json(
                {
                    "type": "error",
                    "code": "too_many_sockets",
                    "detail": "Too many open connections; close another tab.",
                }
            )
            await self.close(code=CLOSE_TOO_MANY)
            return
        self.user = self.scope["user"] = user
        try:
            for group in [publisher.EVERYONE_GROUP, *(publisher.room_group(r.id) for r in rooms)]:
                await self.subscribe(group)
        except Exception:
            logger.exception("could not subscribe a socket's rooms")
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        self.rooms = {room.id for room in rooms}
        self.seqs = {room.id: room.last_seq for room in rooms}
        self.registry.add(self)
        await self.send_json(
            {
                "type": "hello",
                "user": {
                    "id": user.id,
                    "username": user.username,
                    "display_name": user.display_name,
                    "show_presence": user.show_presence,
                    "send_read_receipts": user.send_read_receipts,
                    "time_zone": user.time_zone or None,
                },
                "rooms": [room_dict(room) for room in rooms],
            }
        )
        if status is not None:
            await self.presence_tell(status)

    async def presence_tell(self, status: str):
        """Tell those who may see it that this socket changed the user's presence; a fault here
        costs only timeliness, as in presence_refresh."""
        try:
            await in_database_thread(services.presence_tell)(user=self.user, status=status)
        except Exception:
            logger.exception("could not tell the presence of user %s", self.user.id)

    async def presence_refresh(self):
        """Tell those who may see it if the user's presence changed; a fault here costs only
        timeliness (the next change, or the expiry of the socket's entry, corrects it)."""
        try:
            await in_database_thread(services.presence_refresh)(user_id=self.user.id)
        except Exception:
            logger.exception("could not refresh the presence of user %s", self.user.id)

    def _admit(self):
        """The credential checked and the user loaded again (now that revocations reach the
        socket), the socket counted, and the user's rooms: (outcome, user, rooms, the user's
        new presence if this socket changed it). One hop to the database thread, which also keeps
        a handshake behind the work of the user's sockets that are closing (and their release)."""
        self.marker = _read_marker(self.credential.user_id)
        user = credential_user(self.credential)
        if user is None:
            return "unauthenticated", None, [], None
        counted, status = services.presence_socket_open(user=user, socket_id=self.socket_id)
        if not counted:
            return "too_many", None, [], None
        self.counted = True
        return "admitted", user, queries.rooms_for_user(user=user), status

    async def release(self):
        """Leave every group and the socket count, however the consumer ended."""
        self.closing = True
        self.released = True
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        self.registry.discard(self)
        if self.outbox is not None:
            self.outbox.clear()
        try:
            for group in list(self.groups_joined):
                await hub().unsubscribe(group, self)
            if self.counted:
                await in_database_thread(presence.socket_close)(
                    user_id=self.credential.user_id, socket_id=self.socket_id
                )
                await in_database_thread(services.presence_refresh)(user_id=self.credential.user_id)
        except Exception:  # the layer or Redis is down: groups and counts expire by themselves
            logger.exception("could not release a closed socket")

    async def recheck(self) -> bool:
        """Before each frame: is the credential still good? A changed revocation marker means
        something of the user's was revoked, so the credential and rooms are checked in full.
        False (and the socket closing) when it was revoked."""
        marker = await _read_marker_async(self.user.id)
        if marker is not _UNKNOWN and marker == self.marker:
            return True
        valid, rooms = await in_database_thread(self._check_in_full)()
        if not valid:
            await self.revoke()
            return False
        self.marker = marker
        if self.rooms - rooms:
            await self.rooms_lost(self.rooms - rooms)
        return True

    def _check_in_full(self) -> tuple[bool, set[int]]:
        if not credentials_valid([self.credential]):
            return False, set()
        return True, queries.room_ids_for_users(user_ids={self.user.id})[self.user.id]

    async def revoke(self):
        """The credential no longer holds: say so and close, at once or, when a send to a client
        that is not reading is in progress, as soon as it ends (or times out)."""
        self.revoked = True
        if not self.send_lock.locked():
            await self._close_revoked()

    async def _close_revoked(self):
        if self.closing:
            return
        error = {
            "type": "error",
            "code": "unauthenticated",
            "detail": "Your session ended; sign in again.",
        }
        await self._send_now(json.dumps(error))
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def room_stale(self, room_id: int, seq: int | None = None):
        """Something of the room may not have reached this socket (a publish failed, an event was
        lost): tell the client to `sync` it."""
        if room_id in self.rooms:
            if seq is not None:
                self.seqs[room_id] = max(self.seqs.get(room_id, 0), seq)
            await self.send_json({"type": "room.stale", "room": room_id})

    async def rooms_lost(self, room_ids: set[int], reason: str | None = None):
        """Stop the stream of rooms the user no longer belongs to, and say why: the event's
        reason, or, when a re-check noticed the loss, the reason the database shows."""
        told = []
        for room_id in room_ids:
            group = publisher.room_group(room_id)
            self.rooms.discard(room_id)
            self.seqs.pop(room_id, None)
            if group not in self.groups_joined:
                continue  # told already
            self.groups_joined.remove(group)
            await hub().unsubscribe(group, self)
            told.append(room_id)
        if not told:
            return
        if reason is None:
            reasons = await in_database_thread(queries.room_loss_reasons)(
                user_id=self.user.id, room_ids=set(told)
            )
        else:
            reasons = dict.fromkeys(told, reason)
        for room_id in told:
            await self.send_json(
                {"type": "room.removed", "room": room_id, "reason": reasons[room_id]}
            )

    async def close(self, code=None, reason=None):
        """Start closing, without waiting: the server finishes a close only once it has read the
        client's reply, which queues behind frames the client sent before it, and this consumer
        must go on taking (and ignoring) those for the reply to arrive."""
        self.close_soon(code, reason)

    def close_soon(self, code=None, reason=None):
        if self.closing:
            return
        self.closing = True
        self.close_task = asyncio.ensure_future(self._close_after_send(code, reason))
        self.close_task.add_done_callback(_log_failure)

    async def _close_after_send(self, code, reason):
        try:
            async with asyncio.timeout(settings.CHAT_SEND_TIMEOUT):
                await self.send_lock.acquire()
        except TimeoutError:
            pass  # the send that holds it times out as well; close regardless
        with contextlib.suppress(OSError):  # the client is gone already
            await super().close(code=code, reason=reason)

    async def send(self, text_data=None, bytes_data=None, close=False):
        await self._send_now(text_data)
        if self.revoked:
            await self._close_revoked()

    async def _send_now(self, text: str):
        """Send a frame, unless the socket is closing. A client that reads nothing for
        CHAT_SEND_TIMEOUT seconds is closed (1013: try again), so it cannot hold the server's
        events for it back forever."""
        if self.closing or self._written_directly(text, frame_bytes):
            return
        try:
            async with asyncio.timeout(settings.CHAT_SEND_TIMEOUT), self.send_lock:
                if not self.closing:
                    await super().send(text_data=text)
        except TimeoutError:
            await self.close(code=CLOSE_TRY_AGAIN)
        except OSError:  # the client went away mid-send; its disconnect event follows
            self.closing = True

    async def send_json(self, content: dict):
        await self.send(text_data=json.dumps(content))

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        limit = settings.CHAT_FRAME_MAX_BYTES
        if bytes_data is not None:
            too_big = len(bytes_data) > limit
        else:
            too_big = len(text_data) * 4 > limit and len(text_data.encode()) > limit
        if too_big:
            await self.close(code=CLOSE_TOO_BIG)
            return
        frame = _parse(text_data) if bytes_data is None else None
        if self.user is None:
            if bytes_data is not None:
                await self.close(code=CLOSE_UNAUTHENTICATED)
            else:
                await self.authenticate(frame)
            return
        try:
            # The credential first: a revoked socket is answered nothing, not even an error.
            if not await self.recheck():
                return
            if bytes_data is not None:
                raise BadRequest("Frames are JSON text, not binary.")
            await self.handle(frame)
        except ChatError as error:
            await self.send_json(error.as_frame())
        except _OUTAGES:
            logger.warning("socket frame met an outage", exc_info=True)
            error = {
                "type": "error",
                "code": "unavailable",
                "detail": "The server is having trouble; trying again.",
                "retry_after": 1,
            }
            await self.send_json(_naming_client_id(error, frame))
        except Exception:
            logger.exception("socket frame failed")
            error = {
                "type": "error",
                "code": "internal",
                "detail": "Something went wrong on the server; try again.",
            }
            await self.send_json(_naming_client_id(error, frame))

    async def handle(self, frame):
        """Check the frame's shape and the user's budget for its type; run it."""
        if not isinstance(frame, dict):
            raise BadRequest(
                f"A frame is a JSON object with a 'type', nested at most {FRAME_MAX_DEPTH} deep."
            )
        frame_type = frame.get("type")
        handler = self.handlers.get(frame_type) if isinstance(frame_type, str) else None
        if handler is None:
            raise BadRequest("Unknown frame type.")
        wait = ratelimit.take_frame(user_id=self.user.id, frame_type=frame_type)
        if wait:
            raise RateLimited("Too many frames; slow down.", retry_after=round(wait, 3))
        await handler(self, frame)

    async def authenticate(self, frame):
        """A socket without credentials must send {"type": "auth", "ticket": ...} first."""
        if not isinstance(frame, dict) or frame.get("type") != "auth":
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        ticket = await in_database_thread(socket_ticket_redeem)(key=frame.get("ticket"))
        if ticket is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.auth_timer.cancel()
        credential = Credential(
            user_id=ticket.user_id, session_key=ticket.session_key, token_id=ticket.token_id
        )
        await self.start(credential)

    # Frames from the client. Each names its room and is authorised against membership now.

    async def on_send(self, frame):
        room_id = _room_id(frame)
        client_id = _client_id(frame)
        try:
            reply_to = _optional_id(frame, "reply_to")
            frame, published = await message_writer().store(
                author=self.user,
                room_id=room_id,
                body=frame.get("body"),
                client_id=client_id,
                attachments=frame.get("attachments"),
                reply_to=reply_to,
            )
        except ChatError as error:
            error.extra["client_id"] = str(client_id)
            raise
        typing_reset(room_id=room_id, user_id=self.user.id)
        if not published or room_id not in self.rooms:
            # A resend, a publish that failed (the message is stored all the same), or a room
            # this socket is not subscribed to (yet): no broadcast reaches this socket, so answer
            # it directly.
            await self.send_json(frame)

    async def on_history(self, frame):
        room_id = _room_id(frame)
        before = _seq(frame, "before", required=False)
        around = _seq(frame, "around", required=False)
        if before is not None and around is not None:
            raise BadRequest("Give 'before' or 'around', not both.")
        limit = _limit(frame)
        answer = await in_database_thread(self._history)(room_id, before, around, limit)
        await self.send_json({"type": "history", "room": room_id, **answer})

    def _history(self, room_id, before, around, limit) -> dict:
        access.room_for_member(user=self.user, room_id=room_id)
        if around is None:
            messages, has_more = queries.messages_before(
                room_id=room_id, before=before, limit=limit
            )
            return {"messages": message_dicts(messages), "has_more": has_more}
        messages, has_more, has_newer = queries.messages_around(
            room_id=room_id, seq=around, limit=limit
        )
        return {
            "messages": message_dicts(messages),
            "has_more": has_more,
            "has_newer": has_newer,
            "around": around,
        }

    async def on_sync(self, frame):
        room_id = _room_id(frame)
        after = _seq(frame, "after", required=True)
        answer = await in_database_thread(self._events_after)(room_id, after)
        if answer["messages"] and room_id in self.seqs:
            latest = max(message["seq"] for message in answer["messages"])
            self.seqs[room_id] = max(self.seqs[room_id], latest)
        await self.send_json(answer)

    def _events_after(self, room_id, after):
        access.room_for_member(user=self.user, room_id=room_id)
        items, last_pos, has_more = queries.events_after(room_id=room_id, after=after)
        events = [
            message_frame(item) if isinstance(item, Message) else room_event_frame(item)
            for item in items
        ]
        return {
            "type": "sync",
            "room": room_id,
            "events": events,
            "last_pos": last_pos,
            "has_more": has_more,
            # The messages among the events, for clients that show only messages.
            "messages": [event["message"] for event in events if "message" in event],
        }

    async def on_edit(self, frame):
        await in_database_thread(services.message_edit)(
            editor=self.user,
            room_id=_room_id(frame),
            message_id=_id(frame, "id"),
            body=frame.get("body"),
        )

    async def on_delete(self, frame):
        await in_database_thread(services.message_delete)(
            actor=self.user, room_id=_room_id(frame), message_id=_id(frame, "id")
        )

    async def on_react(self, frame):
        await in_database_thread(services.reaction_add)(
            user=self.user,
            room_id=_room_id(frame),
            message_id=_id(frame, "id"),
            emoji=frame.get("emoji"),
        )

    async def on_unreact(self, frame):
        await in_database_thread(services.reaction_remove)(
            user=self.user,
            room_id=_room_id(frame),
            message_id=_id(frame, "id"),
            emoji=frame.get("emoji"),
        )

    async def on_read(self, frame):
        room_id = _room_id(frame)
        seq = _seq(frame, "seq", required=True)
        await in_database_thread(services.room_mark_read)(user=self.user, room_id=room_id, seq=seq)

    async def on_typing(self, frame):
        room_id = _room_id(frame)
        # The rooms of a socket that passed recheck() are current (every loss of a room changes
        # the revocation marker): no query for the most frequent frame of all.
        if room_id not in self.rooms:
            raise NotFound("No such room.")
        now = asyncio.get_running_loop().time()
        if not typing_due(room_id=room_id, user_id=self.user.id, now=now):
            return
        small = room_small_known(room_id=room_id, now=now)
        if small is None:
            small = await in_database_thread(room_small_find)(room_id=room_id, now=now)
        if not small:
            return
        await publisher.typing_publish(
            room_id=room_id, user_id=self.user.id, display_name=self.user.display_name
        )

    async def on_rooms(self, frame):
        """The user's rooms with their summaries now, and the public rooms they may join: a
        page refreshes its list with it after a reconnect."""
        rooms, public = await in_database_thread(self._rooms)()
        await self.send_json({"type": "rooms", "rooms": rooms, "public_rooms": public})

    def _rooms(self) -> tuple[list[dict], list[dict]]:
        rooms = [room_dict(room) for room in queries.rooms_for_user(user=self.user)]
        public = queries.public_rooms_not_joined(user=self.user)
        return rooms, [public_room_dict(room) for room in public]

    async def on_members(self, frame):
        room_id = _room_id(frame)
        members, count = await in_database_thread(self._members)(room_id)
        await self.send_json(
            {"type": "members", "room": room_id, "members": members, "count": count}
        )

    def _members(self, room_id) -> tuple[list[dict], int]:
        room = access.room_for_member(user=self.user, room_id=room_id)
        members, count = queries.room_members(room=room)
        return [member_dict(membership) for membership in members], count

    async def on_ping(self, frame):
        await self.send_json({"type": "pong"})

    async def on_activity(self, frame):
        state = frame.get("state")
        if state not in {"active", "idle"}:
            raise BadRequest("'state' must be 'active' or 'idle'.")
        zone = frame.get("time_zone")
        if zone is not None and not time_zone_valid(zone):
            raise BadRequest("'time_zone' must be an IANA time zone name, such as Europe/Paris.")
        await in_database_thread(self._activity)(state == "active", zone)

    def _activity(self, active: bool, zone: str | None):
        if zone is not None:
            time_zone_report(user=self.user, time_zone=zone)
        services.presence_activity(user_id=self.user.id, socket_id=self.socket_id, active=active)

    async def on_presence(self, frame):
        user_ids = _user_ids(frame)
        users = await in_database_thread(self._presence_of)(user_ids)
        await self.send_json({"type": "presence", "users": users})

    def _presence_of(self, user_ids: list[int]) -> list[dict]:
        visible = access.users_sharing_a_room(user=self.user, user_ids=user_ids)
        return queries.people_presence(user_ids=visible)

    async def on_card(self, frame):
        user_id = _id(frame, "user")
        card = await in_database_thread(self._card)(user_id)
        await self.send_json({"type": "card", "user": card})

    def _card(self, user_id: int) -> dict:
        person = access.person_for_viewer(viewer=self.user, user_id=user_id)
        status = presence.statuses(user_ids=[person.id])[person.id]
        return card_dict(person, status=status)

    async def on_receipts(self, frame):
        room_id = _room_id(frame)
        await self.send_json(await in_database_thread(self._receipts)(room_id))

    def _receipts(self, room_id: int) -> dict:
        access.room_for_member(user=self.user, room_id=room_id)
        shown = access.receipts_shown(user=self.user, room_id=room_id)
        receipts = queries.room_receipts(room_id=room_id) if shown else []
        return {
            "type": "receipts",
            "room": room_id,
            "shown": shown,
            "receipts": [{"user": user_id, "seq": seq} for user_id, seq in receipts],
        }

    handlers = {
        "send": on_send,
        "history": on_history,
        "sync": on_sync,
        "edit": on_edit,
        "delete": on_delete,
        "react": on_react,
        "unreact": on_unreact,
        "read": on_read,
        "typing": on_typing,
        "ping": on_ping,
        "activity": on_activity,
        "presence": on_presence,
        "card": on_card,
        "receipts": on_receipts,
        "rooms": on_rooms,
        "members": on_members,
    }

    # Events from the hub.

    async def subscribe(self, group: str) -> None:
        await hub().subscribe(group, self)
        if self.released:  # the socket ended meanwhile (a room added as it closed)
            await hub().unsubscribe(group, self)
            return
        self.groups_joined.append(group)

    def deliver(self, event: dict) -> None:
        """From the hub, which must not wait: a frame for every member is written at once,
        unless an event that changes this socket's state is still waiting (it goes first)."""
        if self.events_pending or event["type"] not in self.instant:
            self.events_pending += 1
            _spawn(self._handle_event(event))
        else:
            self.deliver_now(event)

    async def _handle_event(self, event: dict) -> None:
        async with self.handling:
            if self.released:
                self.events_pending -= 1
                return
            await self.dispatch(event)

    def deliver_now(self, event: dict) -> None:
        for frame in self.instant[event["type"]](self, event):
            self.write(frame)

    def events_lost(self) -> None:
        """Events for this process were dropped (the layer's queue was full): rather than miss
        them, perhaps a revocation among them, the client reconnects and syncs."""
        self.close_soon(code=CLOSE_TRY_AGAIN)

    def write(self, frame: str) -> None:
        """Send a frame to the client: its bytes straight to the transport where realtime/wire
        allows and nothing is queued before it, else through the outbox. One that has fallen
        CHAT_OUTBOX_MAX frames behind is closed with 1013, so it reconnects and syncs: the
        server holds no unbounded backlog, and nothing is dropped unseen."""
        if self.closing or self.revoked:
            return
        if self.writer is None:
            if self._written_directly(frame, wire_bytes):
                return
            # Usually the client is reading and the frame goes out at once, with no task: the
            # writer runs until it first has to wait, and only then becomes a task.
            self.outbox = deque((frame,))
            self.writer = _WRITING
            self.writer = start_eagerly(self._write_outbox())
            return
        if len(self.outbox) >= settings.CHAT_OUTBOX_MAX:
            logger.info("closing a socket %s frames behind", len(self.outbox))
            self.outbox.clear()
            self.close_soon(code=CLOSE_TRY_AGAIN)
            return
        self.outbox.append(frame)

    def _written_directly(self, text: str, serialise) -> bool:
        """Whether the frame's bytes went straight to the transport (realtime/wire): only when
        no frame is queued or being sent before it, so frames keep their order."""
        return (
            self.write_direct is not None
            and self.writer is None
            and not self.send_lock.locked()
            and self.write_direct(serialise(text))
        )

    async def _write_outbox(self) -> None:
        """Write the queued frames in order, under the send lock. The registry closes the socket
        when its client takes none of them for CHAT_SEND_TIMEOUT (`stalled`); a revocation that
        came meanwhile closes it after the frame being written."""
        writing = self.registry.writing
        loop = asyncio.get_running_loop()
        try:
            async with self.send_lock:
                while self.outbox and not self.closing and not self.revoked:
                    writing[self] = loop.time()
                    await self.base_send({"type": "websocket.send", "text": self.outbox.popleft()})
        except OSError:  # the client went away mid-send; its disconnect event follows
            self.closing = True
        except asyncio.CancelledError:  # stalled: closing
            pass
        finally:
            writing.pop(self, None)
            self.writer = self.outbox = None
        if self.revoked:
            await self._close_revoked()

    def stalled(self) -> None:
        """The client took no frame for CHAT_SEND_TIMEOUT: stop writing to it, and close it
        with 1013 (try again), so that it reconnects and syncs."""
        if self.writer is not None:
            self.writer.cancel()
        self.close_soon(code=CLOSE_TRY_AGAIN)

    def room_frame(self, event) -> list[str]:
        room_id = event["room"]
        if room_id not in self.rooms:
            return []
        if "seq" in event:
            self.seqs[room_id] = max(self.seqs.get(room_id, 0), event["seq"])
        return event["frames"]

    def from_room_mate(self, event) -> list[str]:
        """A room-mate's typing or presence: not news to the room-mate themselves."""
        if event["room"] in self.rooms and event["user"] != self.user.id:
            return [event["frame"]]
        return []

    def receipt_frame(self, event) -> list[str]:
        """A room-mate's read position moved: shown only to people who send receipts
        themselves."""
        return self.from_room_mate(event) if self.user.send_read_receipts else []

    def client_frame(self, event) -> list[str]:
        """A frame for the user's own sockets (their read marker moved) or for everyone's (a new
        public room), sent as it is; never before `hello`."""
        return [event["frame"]] if self.user is not None else []

    # Frames every socket of a group gets as they are (or not at all): delivered by the hub's
    # task, never waiting for this socket's own. Each handler gives the frames to write.
    instant = {
        "room.frame": room_frame,
        "chat.typing": from_room_mate,
        "chat.presence": from_room_mate,
        "chat.receipt": receipt_frame,
        "client.frame": client_frame,
    }

    async def user_settings(self, event):
        """The user changed who sees their presence and receipts: follow it here too."""
        await in_database_thread(self.user.refresh_from_db)(
            fields=["show_presence", "send_read_receipts", "time_zone"]
        )
        await self.presence_refresh()

    async def room_added(self, event):
        room_id = event["room"]
        if room_id in self.rooms:
            return
        rooms = await in_database_thread(queries.rooms_for_user)(user=self.user, room_id=room_id)
        if not rooms:
            return
        await self.subscribe(publisher.room_group(room_id))
        self.rooms.add(room_id)
        self.seqs[room_id] = rooms[0].last_seq
        await self.send_json({"type": "room.added", "room": room_dict(rooms[0])})

    async def room_removed(self, event):
        room_id = event["room"]
        if room_id not in self.rooms:
            return
        if await in_database_thread(access.is_member)(user=self.user, room_id=room_id):
            return  # stale event: the user is a member again
        await self.rooms_lost({room_id}, event["reason"])

    async def auth_revoked(self, event):
        await self.revoke()


async def _refuse_try_again(receive, send, *, accepted: bool) -> None:
    """Close with 1013 (try again later), accepting the handshake first if need be."""
    try:
        if not accepted:
            message = await receive()
            if message["type"] != "websocket.connect":
                return
            await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN})
    except Exception:  # the client is gone already
        logger.info("could not close a failed socket", exc_info=True)


def _naming_client_id(error: dict, frame) -> dict:
    """The error, naming the frame's client_id if it had one (a send: the page marks it failed)."""
    if isinstance(frame, dict) and isinstance(frame.get("client_id"), str):
        error["client_id"] = frame["client_id"][:64]
    return error


# State events being handled in tasks of their own, held until done (asyncio keeps only weak
# references to tasks).
_event_tasks: set[asyncio.Task] = set()


def _spawn(coroutine) -> None:
    task = asyncio.ensure_future(coroutine)
    _event_tasks.add(task)
    task.add_done_callback(_event_tasks.discard)
    task.add_done_callback(_log_failure)


# Stands for the writer while it runs its first steps, before it is known whether it needs a task.
_WRITING = object()


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("socket task failed", exc_info=task.exception())


def _read_marker(user_id: int):
    """The user's revocation marker, or _UNKNOWN when the store cannot be read (so the caller
    checks in full)."""
    try:
        return publisher.revocation_marker(user_id=user_id)
    except Exception:
        logger.warning("revocation marker unreadable; checking sockets in full", exc_info=True)
        return _UNKNOWN


async def _read_marker_async(user_id: int):
    """_read_marker, from the event loop."""
    try:
        return await publisher.revocation_marker_async(user_id=user_id)
    except Exception:
        logger.warning("revocation marker unreadable; checking sockets in full", exc_info=True)
        return _UNKNOWN
