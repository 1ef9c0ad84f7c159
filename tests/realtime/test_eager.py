"""start_eagerly: a coroutine runs at once, and becomes a task only where it has to wait."""

import asyncio

import pytest

from realtime.eager import start_eagerly


async def test_a_coroutine_that_never_waits_runs_to_its_end_without_a_task():
    ran = []

    async def write():
        async with asyncio.Lock():  # a free lock is taken without waiting
            ran.append("written")

    assert start_eagerly(write()) is None
    assert ran == ["written"]  # before anything else ran


async def test_a_coroutine_that_waits_goes_on_in_a_task_with_its_result():
    ran = []
    ready = asyncio.Event()

    async def write():
        ran.append("started")
        await ready.wait()
        ran.append("written")
        return 42

    task = start_eagerly(write())
    assert ran == ["started"] and isinstance(task, asyncio.Task)
    await asyncio.sleep(0)
    assert not task.done()
    ready.set()
    assert await task == 42 and ran == ["started", "written"]


async def test_cancelling_its_task_cancels_the_coroutine_where_it_waits():
    cleaned = []

    async def write():
        try:
            await asyncio.sleep(10)
        finally:
            cleaned.append(True)

    task = start_eagerly(write())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]


async def test_a_coroutine_that_catches_the_cancellation_finishes_normally():
    async def write():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "closed"

    task = start_eagerly(write())
    await asyncio.sleep(0)
    task.cancel()
    assert await task == "closed"


async def test_an_error_before_the_first_wait_is_raised_at_once():
    async def write():
        raise OSError("gone")

    with pytest.raises(OSError, match="gone"):
        start_eagerly(write())
