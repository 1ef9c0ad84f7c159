"""Revocation markers that the frames of one turn of the event loop ask for are read together."""

import asyncio

import pytest

from realtime import publisher, resp
from tests.chat.conftest import shared_state_in_redis


@pytest.fixture
def redis_markers(settings):
    shared_state_in_redis(settings)


@pytest.fixture
async def mgets(redis_markers, monkeypatch, settings) -> list[list[str]]:
    """The keys of every MGET the marker reader sends."""
    sent = []
    client = resp.connection(settings.REDIS_URL)
    mget = client.mget

    async def counted(keys):
        sent.append(list(keys))
        return await mget(keys)

    monkeypatch.setattr(client, "mget", counted)
    return sent


async def test_markers_asked_for_in_one_turn_are_read_in_one_round_trip(mgets):
    await asyncio.to_thread(publisher.revocation_mark, user_id=7)
    values = await asyncio.gather(
        *(publisher.revocation_marker_async(user_id=user_id) for user_id in (7, 8, 7, 9))
    )
    assert len(mgets) == 1 and len(mgets[0]) == 3  # 7, 8 and 9, each once
    assert values[0] == values[2] is not None and values[1] is None and values[3] is None
    assert values[0] == await asyncio.to_thread(publisher.revocation_marker, user_id=7)


async def test_a_read_after_a_revocation_sees_it_and_a_later_turn_reads_again(mgets):
    before = await publisher.revocation_marker_async(user_id=11)
    await asyncio.to_thread(publisher.revocation_mark, user_id=11)
    after = await publisher.revocation_marker_async(user_id=11)
    assert len(mgets) == 2 and before != after is not None


async def test_a_reader_that_goes_away_costs_the_others_nothing(mgets):
    await asyncio.to_thread(publisher.revocation_mark, user_id=12)
    gone = asyncio.ensure_future(publisher.revocation_marker_async(user_id=12))
    staying = asyncio.ensure_future(publisher.revocation_marker_async(user_id=12))
    await asyncio.sleep(0)
    gone.cancel()
    assert await staying is not None
    assert gone.cancelled()


async def test_a_failed_read_reaches_every_reader_of_the_turn(redis_markers, monkeypatch, settings):
    client = resp.connection(settings.REDIS_URL)

    async def down(keys):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(client, "mget", down)
    outcomes = await asyncio.gather(
        *(publisher.revocation_marker_async(user_id=n) for n in (1, 2)), return_exceptions=True
    )
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
