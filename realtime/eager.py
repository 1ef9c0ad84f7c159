"""Running a coroutine at once, without a task, until it first has to wait (Python 3.12's eager
tasks, which this project's 3.11 lacks).

A socket's writes mostly finish without waiting (the client is reading), and a task per frame
written was a tenth of a delivery's cost in a room of 500."""

import asyncio
from collections.abc import Coroutine


def start_eagerly(coroutine: Coroutine) -> asyncio.Task | None:
    """Run `coroutine` now until it first waits; then a task goes on with it, which is returned.
    None when it finished without waiting (its exception, if any, is raised here)."""
    try:
        waiting_on = coroutine.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_Resumed(coroutine, waiting_on).run())


class _Resumed:
    """A started coroutine, handed to a task at the point where it waits."""

    __slots__ = ("coroutine", "waiting_on")

    def __init__(self, coroutine: Coroutine, waiting_on):
        self.coroutine = coroutine
        self.waiting_on = waiting_on

    async def run(self):
        return await self

    def __await__(self):
        waiting_on = self.waiting_on
        while True:
            try:
                value = yield waiting_on
            except BaseException as thrown:  # the task was cancelled: so is the coroutine
                try:
                    waiting_on = self.coroutine.throw(thrown)
                except StopIteration as finished:
                    return finished.value
                continue
            try:
                waiting_on = self.coroutine.send(value)
            except StopIteration as finished:
                return finished.value
