"""The in-memory channel layer of the one-process set-up, made to say when it drops.

Channels' in-memory layer drops an event for a channel whose queue is full, silently: a
revocation or a removal among them. Here such a channel is told so at its next read, before
anything else, and its socket closes with 1013 (try again): the client reconnects, authenticates
again and syncs what it missed. (Redis' pub/sub layer, the default with several processes, keeps
no such limit; the revocation marker and each process's backstop bound the rest.)"""

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

OVERFLOWED = "layer.overflowed"


class OverflowAwareInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.overflowed: set[str] = set()

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

    async def flush(self):
        await super().flush()
        self.overflowed.clear()
