"""The channel layers: channels-redis' pub/sub layer publishing over a lean connection, and the
in-memory layer of the one-process set-up, made to say when it drops, and to cost the same per
event however many groups the process holds.

Pub/sub: each message's event is published by its process, and channels-redis sends it through
redis-py, whose Python around each command cost more than a tenth of a message's CPU at the
peak. Here it goes out over realtime/resp's connection to the group's shard, with the same
channel name and serialisation, so every process reads it as before (subscriptions stay with
channels-redis).

In memory:

Channels' in-memory layer drops an event for a channel whose queue is full, silently: a
revocation or a removal among them. Here such a channel is told so at its next read, before
anything else, and its socket closes with 1013 (try again): the client reconnects, authenticates
again and syncs what it missed. (Redis' pub/sub layer, the default with several processes, keeps
no such limit; the revocation marker and each process's backstop bound the rest.)

It also walks every group for expired entries before each send and each read: with two groups
per user (theirs and their credential's) and one per room, 600 sockets made that walk a tenth of
a message's CPU. Here the walk runs at most once a CLEAN_SECONDS; an entry outlives its expiry
(a day for a group, a minute for an event) by at most that much. And a group's event is put on
each of its channels directly, without a task per channel."""

import contextlib
import time

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

from realtime import resp

OVERFLOWED = "layer.overflowed"
# Seconds between two walks of the layer for expired events and group entries.
CLEAN_SECONDS = 1.0


class OverflowAwareInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.overflowed: set[str] = set()
        self.cleaned_at = float("-inf")

    async def send(self, channel, message):
        try:
            await super().send(channel, message)
        except ChannelFull:
            self.overflowed.add(channel)
            raise

    async def receive(self, channel):
        if channel in self.overflowed:
            self.overflowed.discard(channel)
            return {"type": OVERFLOWED}
        return await super().receive(channel)

    async def group_send(self, group, message):
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, ())):
            with contextlib.suppress(ChannelFull):  # told at the channel's next read
                await self.send(channel, message)

    def _clean_expired(self):
        now = time.monotonic()
        if now - self.cleaned_at >= CLEAN_SECONDS:
            self.cleaned_at = now
            super()._clean_expired()

    async def flush(self):
        await super().flush()
        self.overflowed.clear()


class LeanPublishingPubSubChannelLayer(RedisPubSubChannelLayer):
    async def group_send(self, group, message):
        layer = self._get_layer()
        channel = layer._get_group_channel_name(group)
        shard = layer._get_shard(channel)
        await resp.connection(shard.host["address"]).publish(channel, self.serialize(message))
