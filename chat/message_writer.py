"""Group commit for the sockets' messages: each process stores the sends that arrived while its
last ones were being stored together, in one transaction (services.messages_store).

There is no timer: a send that finds the writer idle is stored at once, alone, as before; under
load the sends pile up behind the one database thread anyway, and the writer takes them all (up
to BATCH_MAX) in one trip. A room of ten at its peak stored each message with two statements,
a commit and a hop to the database thread; a batch pays those once.

Past CHAT_STORE_QUEUE_MAX waiting sends, a send is answered `overloaded` (retry shortly) rather
than queued without bound: the database is not keeping up, and the sender is told so."""

import asyncio

from django.conf import settings

from chat import services
from chat.db import in_database_thread
from chat.errors import Overloaded
from chat.serializers import message_frame
from realtime import publisher

BATCH_MAX = 100


class MessageWriter:
    def __init__(self):
        self.waiting: list[tuple[dict, asyncio.Future]] = []
        self.task: asyncio.Task | None = None
        # The last batch's publishing: the next waits for it, so that a room's messages go out
        # in the order of their seqs (each task holds the one before it until it is done).
        self.answering: asyncio.Task | None = None

    async def store(self, **request) -> tuple[dict, bool]:
        """Store a send (services.message_store's arguments) in a batch with whatever else is
        waiting, and publish it: its message frame, and whether the room's sockets were sent it
        (not when it was a resend, nor when the publish failed). Raises its ChatError."""
        if len(self.waiting) >= settings.CHAT_STORE_QUEUE_MAX:
            raise Overloaded("The server is busy storing messages; sending again.", retry_after=1)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.waiting.append((request, future))
        if self.task is None:
            self.task = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.waiting:
                batch = self.waiting[:BATCH_MAX]
                del self.waiting[:BATCH_MAX]
                try:
                    outcomes = await in_database_thread(services.messages_store)(
                        [request for request, _ in batch]
                    )
                except Exception as error:  # an outage: each sender is told (`unavailable`)
                    outcomes = [error] * len(batch)
                # The next batch is stored while this one is published.
                self.answering = loop.create_task(_answer(batch, outcomes, after=self.answering))
        finally:
            self.task = None


async def _answer(batch, outcomes, *, after: asyncio.Task | None) -> None:
    """Publish a batch's new messages, one event per room with its messages in the order of
    their seqs, after the batch before it (the rooms' sockets see each room's messages in
    order), and answer each sender: its frame and whether the room's sockets were sent it
    (not a resend's, nor when the publish failed), or its error."""
    if after is not None and not after.done():
        await asyncio.wait([after])
    answers: list = []
    new_by_room: dict[int, list[int]] = {}
    for outcome in outcomes:
        if not isinstance(outcome, Exception):
            try:
                message, created = outcome
                # (its frame, whether the room's sockets were sent it: not yet)
                outcome = (message_frame(message), False)
                if created:
                    new_by_room.setdefault(message.room_id, []).append(len(answers))
            except Exception as error:  # a bug: its sender is told `internal`, the others go on
                outcome = error
        answers.append(outcome)
    for room_id, indexes in new_by_room.items():
        try:
            published = await publisher.frames_publish_async(
                room_id, [answers[index][0] for index in indexes]
            )
        except Exception as error:  # a bug: these senders are told `internal`
            published = error
        for index in indexes:
            frame = answers[index][0]
            answers[index] = published if isinstance(published, Exception) else (frame, published)
    for (_, future), answer in zip(batch, answers, strict=True):
        if future.done():  # its socket went away meanwhile
            continue
        if isinstance(answer, Exception):
            future.set_exception(answer)
        else:
            future.set_result(answer)


_writers: dict[asyncio.AbstractEventLoop, MessageWriter] = {}


def message_writer() -> MessageWriter:
    """The writer of the running event loop (one per server process; tests run many loops)."""
    loop = asyncio.get_running_loop()
    for stale in [other for other in _writers if other.is_closed()]:
        del _writers[stale]
    if loop not in _writers:
        _writers[loop] = MessageWriter()
    return _writers[loop]
