"""This process's one subscription per group, fanning each event out to its local sockets.

Channels' usual way gives every socket a channel of its own in the layer and adds that channel to
each of its groups, so a room of 500 costs the layer 500 deliveries per event, each a queue, a
task switch and a dispatch in the consumer. Here a process has one channel: the first local
socket of a group subscribes it, the last one's leaving unsubscribes it, and an event arriving
for the group is handed straight to each local socket, whose frame was serialised once by the
publisher (Centrifugo's hub does the same per node).

A socket is anything with `deliver(event)`, a synchronous call that must not block: the consumer
writes a frame's bytes to its transport or queues them (chat/consumers.py, realtime/wire.py).
Every event carries the name of its group (the publisher adds it), since one channel now
receives them all."""

import asyncio
import logging
from typing import Protocol

from channels.layers import get_channel_layer

from realtime.layers import OVERFLOWED

logger = logging.getLogger(__name__)

# Re-subscribe every group this often: the Redis layer forgets a group after its expiry (a day)
# and after a restart; re-adding is idempotent.
REJOIN_SECONDS = 60.0
# After the layer failed to read (Redis down), wait this long before trying again.
RETRY_SECONDS = 0.5


class Subscriber(Protocol):
    def deliver(self, event: dict) -> None: ...

    def events_lost(self) -> None: ...


class _Group:
    """Who listens to a group here, and whether the process's channel is in it."""

    __slots__ = ("joined", "lock", "subscribers")

    def __init__(self):
        self.subscribers: set[Subscriber] = set()
        self.joined = False
        self.lock = asyncio.Lock()


class Hub:
    def __init__(self, layer):
        self.layer = layer
        self.groups: dict[str, _Group] = {}
        self.channel: str | None = None
        self.reader: asyncio.Task | None = None
        self.rejoining: asyncio.Task | None = None
        self._starting = asyncio.Lock()

    async def subscribe(self, group: str, subscriber: Subscriber) -> None:
        """Add a local socket to a group; on return the process receives the group's events."""
        await self._start()
        state = self.groups.get(group)
        if state is None:
            state = self.groups[group] = _Group()
        state.subscribers.add(subscriber)
        await self._settle(group, state)

    async def unsubscribe(self, group: str, subscriber: Subscriber) -> None:
        state = self.groups.get(group)
        if state is None or subscriber not in state.subscribers:
            return
        state.subscribers.discard(subscriber)
        if not state.subscribers:
            await self._settle(group, state)

    async def _settle(self, group: str, state: _Group) -> None:
        """Bring the layer's membership in line with whether anyone here listens, one change at
        a time per group (a discard overtaking an add would leave a socket deaf)."""
        async with state.lock:
            wanted = bool(state.subscribers)
            if wanted and not state.joined:
                await self.layer.group_add(group, self.channel)
                state.joined = True
            elif not wanted and state.joined:
                state.joined = False
                await self.layer.group_discard(group, self.channel)
        # Forget an idle group only once no change is under way: a subscriber that arrived
        # meanwhile has added itself, so it keeps the group.
        if not state.subscribers and not state.lock.locked() and self.groups.get(group) is state:
            del self.groups[group]

    async def _start(self) -> None:
        if self.reader is not None:
            return
        async with self._starting:
            if self.reader is None:
                self.channel = await self.layer.new_channel()
                self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        rejoined_at = loop.time()
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("the hub could not read from the channel layer", exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)
                await self._rejoin()
                continue
            self._fan_out(event)
            # Let the sockets write before the next event: the layer hands over a backlog
            # without waiting, and the outboxes would fill up behind it.
            await asyncio.sleep(0)
            if loop.time() - rejoined_at > REJOIN_SECONDS:
                rejoined_at = loop.time()
                self.rejoining = loop.create_task(self._rejoin())

    def _fan_out(self, event: dict) -> None:
        if event["type"] == OVERFLOWED:
            # The layer dropped events for this process, a revocation perhaps among them.
            for state in list(self.groups.values()):
                for subscriber in list(state.subscribers):
                    subscriber.events_lost()
            return
        state = self.groups.get(event.get("group"))
        if state is None:
            return  # its last socket left while the event was on its way
        for subscriber in list(state.subscribers):
            try:
                subscriber.deliver(event)
            except Exception:
                logger.exception("delivering %s failed", event["type"])

    async def _rejoin(self) -> None:
        for group, state in list(self.groups.items()):
            if state.joined:
                try:
                    await self.layer.group_add(group, self.channel)
                except Exception:
                    logger.warning("could not re-subscribe %s", group, exc_info=True)
                    return


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub() -> Hub:
    """The hub of the running event loop and the current channel layer (one per server process;
    tests run many loops and switch layers)."""
    loop = asyncio.get_running_loop()
    for stale in [other for other in _hubs if other.is_closed()]:
        del _hubs[stale]
    layer = get_channel_layer()
    current = _hubs.get(loop)
    if current is None or current.layer is not layer:
        if current is not None and current.reader is not None:
            current.reader.cancel()
        current = _hubs[loop] = Hub(layer)
    return current
