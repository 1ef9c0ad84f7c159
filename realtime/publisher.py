"""Group names, the one publisher of what the server pushes to open sockets (room events after
their commit, control events), and the revocation marker every socket frame checks."""

import asyncio
import functools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver

from realtime import resp
from realtime.redis_client import redis_client, redis_key

logger = logging.getLogger(__name__)

# How long a revocation marker is kept; a socket that finds it gone re-checks in full.
MARKER_TTL = 7 * 24 * 60 * 60
# Seconds to wait before each attempt to publish: a connection that a Redis restart left stale
# fails once, and the retry takes a fresh one.
PUBLISH_DELAYS = (0, 0.05, 0.5)


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


# Every authenticated socket: for what concerns every signed-in user (a new public room).
EVERYONE_GROUP = "everyone"


def session_group(session_key: str) -> str:
    return f"session.{session_key}"


def token_group(token_id: int) -> str:
    return f"token.{token_id}"


async def publish(group: str, event: dict, *, room_id: int | None = None) -> bool:
    """Send an event to a group, retrying on a fresh connection. When it still fails, False,
    and the room's sockets in this process are told to `sync` it (those in other processes learn
    it from their backstop, which compares each room's last seq with what they were sent)."""
    event = {**event, "group": group}  # each process reads all its groups from one channel
    for delay in PUBLISH_DELAYS:
        if delay:
            await asyncio.sleep(delay)
        try:
            await get_channel_layer().group_send(group, event)
            return True
        except Exception:
            logger.warning("publishing %s to %s failed", event["type"], group, exc_info=True)
    logger.error("gave up publishing %s to %s", event["type"], group)
    if room_id is not None:
        for handler in _publish_failure_handlers:
            await handler(room_id)
    return False


_publish_failure_handlers: list[Callable[[int], Awaitable[None]]] = []


def on_publish_failure(handler: Callable[[int], Awaitable[None]]) -> None:
    """Call `handler(room_id)` in the publishing process when a room's event could not be
    published (chat tells its sockets of the room to `sync`)."""
    _publish_failure_handlers.append(handler)


def _group_send(group: str, event: dict) -> None:
    async_to_sync(publish)(group, event)


async def frame_publish_async(frame: dict) -> bool:
    """Send a frame of a room's event stream to every socket subscribed to the room, serialised
    once; False when it could not be published (the room's sockets are then told to sync)."""
    return await frames_publish_async(frame["room"], [frame])


async def frames_publish_async(room_id: int, frames: list[dict]) -> bool:
    """Send frames of a room's event stream, in their order, as one event (a batch of messages
    stored together costs one publish); False when it could not be published."""
    event = {"type": "room.frame", "room": room_id, "frames": [json.dumps(f) for f in frames]}
    seqs = [frame["message"]["seq"] for frame in frames if frame["type"] == "message"]
    if seqs:
        event["seq"] = max(seqs)
    return await publish(room_group(room_id), event, room_id=room_id)


def frame_publish(frame: dict) -> None:
    """frame_publish_async, from sync code (services, after their transaction commits)."""
    async_to_sync(frame_publish_async)(frame)


def room_added(*, user_id: int, room_id: int) -> None:
    """Tell the user's sockets to subscribe to a room they just joined."""
    _group_send(user_group(user_id), {"type": "room.added", "room": room_id})


def room_removed(*, user_id: int, room_id: int, reason: str) -> None:
    """Tell the user's sockets to drop a room they no longer belong to, and why: "left" (they
    left it, in another tab perhaps) or "removed" (by its owner)."""
    revocation_mark(user_id=user_id)
    _group_send(user_group(user_id), {"type": "room.removed", "room": room_id, "reason": reason})


def room_notice(*, room_id: int, event_type: str, user_id: int, frame: dict) -> None:
    """Send a frame about a member that is not part of the room's stream (their presence, their
    read receipt) to the room's sockets, serialised once; `event_type` names the socket handler
    that decides whether its user may see it. One that is lost is not replayed: clients ask for
    the state behind it."""
    event = {"type": event_type, "room": room_id, "user": user_id, "frame": json.dumps(frame)}
    _group_send(room_group(room_id), event)


async def typing_publish(*, room_id: int, user_id: int, display_name: str) -> None:
    """Tell a room's sockets that someone is typing, serialised once."""
    frame = {"type": "typing", "room": room_id, "user": user_id, "display_name": display_name}
    event = {"type": "chat.typing", "room": room_id, "user": user_id, "frame": json.dumps(frame)}
    await publish(room_group(room_id), event)


def user_settings_changed(*, user_id: int) -> None:
    """Tell the user's sockets to reload their presence and receipt settings."""
    _group_send(user_group(user_id), {"type": "user.settings"})


def room_deleted(*, room_id: int) -> None:
    """Tell every socket of a room that it was deleted."""
    _group_send(room_group(room_id), {"type": "room.removed", "room": room_id, "reason": "deleted"})


def frame_to_group(group: str, frame: dict) -> None:
    """Send a frame as it is to every socket of a group (a user's own, or everyone's)."""
    _group_send(group, {"type": "client.frame", "frame": json.dumps(frame)})


def _marker_key(user_id: int) -> str:
    return redis_key(f"revoked:{user_id}")


# Markers live in Redis when there is one (several processes), under the deployment's prefix, as
# raw values read from the event loop over realtime/resp's connection; else in this one
# process's cache.


@functools.cache
def _local_markers():
    return caches.create_connection(DEFAULT_CACHE_ALIAS)


@receiver(setting_changed)
def _forget_local_markers(*, setting, **kwargs):
    if setting == "CACHES":
        _local_markers.cache_clear()


def revocation_marker(*, user_id: int) -> bytes | str | None:
    """A value that changes whenever one of the user's credentials or memberships is revoked
    (None when none was, lately); a socket compares it on every frame."""
    if settings.REDIS_URL:
        return redis_client().get(_marker_key(user_id))
    return _local_markers().get(_marker_key(user_id))


async def revocation_marker_async(*, user_id: int) -> bytes | str | None:
    """revocation_marker from the event loop, without a thread: the markers that the frames
    arriving together ask for are read in one round trip to Redis."""
    if settings.REDIS_URL:
        return await _marker_reads().read(_marker_key(user_id))
    return _local_markers().get(_marker_key(user_id))  # in memory: nothing to wait for


class _MarkerReads:
    """Marker reads asked for in one turn of the event loop, made as one MGET once the turn's
    ready work has run. Every read is made after its frame arrived, so none misses a revocation
    stored before that."""

    def __init__(self, client):
        self.client = client
        self.waiting: list[tuple[str, asyncio.Future]] | None = None
        self.tasks: set[asyncio.Task] = set()

    async def read(self, key: str):
        loop = asyncio.get_running_loop()
        if self.waiting is None:
            self.waiting = []
            loop.call_soon(self._read_waiting)
        future = loop.create_future()
        self.waiting.append((key, future))
        return await future

    def _read_waiting(self) -> None:
        waiting, self.waiting = self.waiting, None
        task = asyncio.ensure_future(self._read_all(waiting))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _read_all(self, waiting: list[tuple[str, asyncio.Future]]) -> None:
        keys = list(dict.fromkeys(key for key, _ in waiting))
        try:
            values = dict(zip(keys, await self.client.mget(keys), strict=True))
        except Exception as error:  # each reader checks its socket in full
            for _, future in waiting:
                if not future.done():
                    future.set_exception(error)
            return
        for key, future in waiting:
            if not future.done():  # its reader went away meanwhile
                future.set_result(values[key])


_marker_readers: dict[asyncio.AbstractEventLoop, _MarkerReads] = {}


def _marker_reads() -> _MarkerReads:
    """The marker reader of the running event loop and its Redis connection."""
    loop = asyncio.get_running_loop()
    client = resp.connection(settings.REDIS_URL)
    reader = _marker_readers.get(loop)
    if reader is None or reader.client is not client:
        for stale in [other for other in _marker_readers if other.is_closed()]:
            del _marker_readers[stale]
        reader = _marker_readers[loop] = _MarkerReads(client)
    return reader


def revocation_mark(*, user_id: int) -> None:
    """Change the user's marker, so each of their sockets re-checks in full at its next frame.
    A fresh random value, never a counter: a counter restarting with Redis could repeat one."""
    marker = secrets.token_hex(8)
    try:
        if settings.REDIS_URL:
            redis_client().set(_marker_key(user_id), marker, ex=MARKER_TTL)
        else:
            _local_markers().set(_marker_key(user_id), marker, MARKER_TTL)
    except Exception:  # the backstop re-checks every socket within CHAT_REVALIDATE_SECONDS
        logger.exception("could not store the revocation marker of user %s", user_id)


def sockets_close(*, user_id: int, group: str, reason: str) -> None:
    """Close every socket in a user, session or token group (revoked credentials). The marker
    comes first: a socket that misses the event still finds the marker at its next frame."""
    revocation_mark(user_id=user_id)
    _group_send(group, {"type": "auth.revoked", "reason": reason})


def sockets_close_on_commit(*, user_id: int, groups: list[str], reason: str) -> None:
    """sockets_close for each group, once the current transaction commits."""

    def close() -> None:
        for group in groups:
            sockets_close(user_id=user_id, group=group, reason=reason)

    transaction.on_commit(close)
