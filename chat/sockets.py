"""This process's open sockets, and the backstop that re-checks them all.

Revocation reaches a socket three ways: the channel-layer event (at once, but it can be dropped
or raced), the revocation marker checked on every frame (for a socket that talks), and this
backstop, which every CHAT_REVALIDATE_SECONDS re-checks every open socket's credential and rooms
in a few batched queries and renews their socket-count entries. So a socket that sends nothing
and missed its event still loses its stream within that interval.

The backstop is also how a message that the channel layer failed to carry (a publish that failed,
a Redis restart, a full channel) still reaches every socket: each sweep, and between sweeps a
cheaper catch-up every CHAT_CATCH_UP_SECONDS over recently active rooms, compares each room's last
seq with the highest one each socket was sent, and tells a socket that is behind to `sync`."""

import asyncio
import logging
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.utils import timezone

from accounts.credentials import Credential, credentials_valid
from chat import presence, queries, services
from chat.db import in_database_thread

logger = logging.getLogger(__name__)

# A message younger than this may still be on its way through the channel layer.
SETTLE = timedelta(seconds=0.5)
# Catch-up between sweeps looks only at rooms with a message this recent (the sweep sees all).
RECENT = timedelta(seconds=30)


class Socket(Protocol):
    socket_id: str
    credential: Credential
    rooms: set[int]
    seqs: dict[int, int]

    async def revoke(self) -> None: ...

    async def room_stale(self, room_id: int, seq: int | None = None) -> None: ...

    async def rooms_lost(self, room_ids: set[int], reason: str | None = None) -> None: ...


class Registry:
    """The open sockets of one event loop, and the backstop task that runs while there are any."""

    def __init__(self):
        self.sockets: set[Socket] = set()
        self.task: asyncio.Task | None = None

    def add(self, socket: Socket) -> None:
        self.sockets.add(socket)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, socket: Socket) -> None:
        self.sockets.discard(socket)

    async def room_stale(self, room_id: int) -> None:
        """Tell this process's sockets of a room to `sync` it (a publish to it failed)."""
        for socket in list(self.sockets):
            _spawn(socket.room_stale(room_id))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        swept_at = loop.time()
        while self.sockets:
            await asyncio.sleep(
                min(settings.CHAT_CATCH_UP_SECONDS, settings.CHAT_REVALIDATE_SECONDS)
            )
            try:
                if loop.time() - swept_at >= settings.CHAT_REVALIDATE_SECONDS:
                    swept_at = loop.time()
                    await self.sweep()
                else:
                    await self.catch_up()
            except Exception:  # a database or Redis fault: try again at the next interval
                logger.exception("socket backstop failed")

    async def catch_up(self) -> None:
        """Between sweeps, and cheaply: tell sockets that were sent less than a recently active
        room's last seq to `sync` it, so a message the channel layer lost in a quiet room shows
        within about CHAT_CATCH_UP_SECONDS."""
        sockets = list(self.sockets)
        room_ids = set().union(*(socket.rooms for socket in sockets))
        if not room_ids:
            return
        now = timezone.now()
        last_seqs = await in_database_thread(queries.room_last_seqs)(
            room_ids=room_ids, before=now - SETTLE, since=now - RECENT
        )
        await _tell_stale(sockets, last_seqs)

    async def sweep(self) -> None:
        """Re-check every open socket now: close the revoked, drop lost rooms, renew counts."""
        sockets = list(self.sockets)
        if not sockets:
            return
        rooms_before = {socket: set(socket.rooms) for socket in sockets}
        valid, rooms, last_seqs = await in_database_thread(_check)(sockets)
        for socket in sockets:
            if socket not in self.sockets:
                continue  # closed meanwhile
            if socket.credential not in valid:
                _spawn(socket.revoke())
                continue
            lost = rooms_before[socket] - rooms.get(socket.credential.user_id, set())
            if lost:
                socket.rooms.difference_update(lost)  # no delivery of theirs from now on
                _spawn(socket.rooms_lost(lost))
        await _tell_stale([s for s in sockets if s in self.sockets], last_seqs)


async def _tell_stale(sockets: list[Socket], last_seqs: dict[int, int]) -> None:
    # Only the rooms found need looking at: in a quiet second the catch-up finds none, and a
    # walk over every socket's rooms was most of its cost.
    if not last_seqs:
        return
    for socket in sockets:
        for room_id in socket.rooms & last_seqs.keys():
            last_seq = last_seqs[room_id]
            if last_seq > socket.seqs.get(room_id, last_seq):
                _spawn(socket.room_stale(room_id, seq=last_seq))


# Work the backstop hands to a socket runs in a task of its own: a socket whose client has stopped
# reading may take up to CHAT_SEND_TIMEOUT to take a frame, and must hold up no other socket.
_tasks: set[asyncio.Task] = set()


def _spawn(coroutine) -> None:
    task = asyncio.ensure_future(coroutine)
    _tasks.add(task)
    task.add_done_callback(_done)


def _done(task: asyncio.Task) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("socket backstop task failed", exc_info=task.exception())


def _check(sockets: list[Socket]) -> tuple[set[Credential], dict[int, set[int]], dict[int, int]]:
    """Renew the sockets' counts (and mark offline the people whose process died); which
    credentials hold, each user's rooms, and the last seq of every room whose latest message is
    older than SETTLE."""
    try:
        presence.sockets_renew([(s.credential.user_id, s.socket_id) for s in sockets])
        # Whoever sweeps first tells the rooms of people whose process died that they left.
        services.presence_reap()
    except Exception:  # Redis down: the counts expire and are renewed at a later sweep
        logger.exception("could not renew socket counts")
    credentials = list({socket.credential for socket in sockets})
    valid = credentials_valid(credentials)
    room_ids = set().union(*(socket.rooms for socket in sockets))
    last_seqs = queries.room_last_seqs(room_ids=room_ids, before=timezone.now() - SETTLE)
    return valid, queries.room_ids_for_users(user_ids={c.user_id for c in valid}), last_seqs


async def room_stale(room_id: int) -> None:
    """Tell this process's sockets of a room to `sync` it (a publish to it failed)."""
    await registry().room_stale(room_id)


_registries: dict[asyncio.AbstractEventLoop, Registry] = {}


def registry() -> Registry:
    """The registry of the running event loop (one per server process; tests run many loops)."""
    loop = asyncio.get_running_loop()
    for stale in [other for other in _registries if other.is_closed()]:
        del _registries[stale]
    if loop not in _registries:
        _registries[loop] = Registry()
    return _registries[loop]
