"""The channel layers: in memory, it says when it drops and its expiry walk is not per event;
over Redis, events published over the lean connection reach the other processes as before."""

import asyncio
import time
import uuid

import pytest
from channels.layers import InMemoryChannelLayer

from realtime import layers
from realtime.layers import (
    OVERFLOWED,
    LeanPublishingPubSubChannelLayer,
    OverflowAwareInMemoryChannelLayer,
)
from tests.conftest import TEST_REDIS_URL


@pytest.fixture
def walks(monkeypatch) -> list[float]:
    """When each walk for expired entries ran."""
    ran = []
    walk = InMemoryChannelLayer._clean_expired

    def counted(layer):
        ran.append(time.monotonic())
        walk(layer)

    monkeypatch.setattr(InMemoryChannelLayer, "_clean_expired", counted)
    return ran


async def test_a_group_event_reaches_each_channel_and_a_full_one_is_told_it_lost_events():
    layer = OverflowAwareInMemoryChannelLayer(capacity=2)
    for channel in ("a.one", "a.full"):
        await layer.group_add("room.1", channel)
    await layer.send("a.full", {"type": "earlier"})
    await layer.send("a.full", {"type": "earlier"})

    await layer.group_send("room.1", {"type": "room.frame", "n": 1})

    assert await layer.receive("a.one") == {"type": "room.frame", "n": 1}
    assert await layer.receive("a.full") == {"type": OVERFLOWED}
    assert await layer.receive("a.full") == {"type": "earlier"}


async def test_events_do_not_each_walk_the_layer_for_expired_entries(walks):
    layer = OverflowAwareInMemoryChannelLayer(capacity=1000)
    for user in range(500):
        await layer.group_add(f"user.{user}", "a.hub")
    for n in range(200):
        await layer.group_send("user.7", {"type": "x", "n": n})
        await layer.receive("a.hub")
    assert len(walks) == 1


async def test_expired_group_entries_are_still_dropped_at_the_next_walk(walks, monkeypatch):
    layer = OverflowAwareInMemoryChannelLayer(group_expiry=60)
    await layer.group_add("room.1", "a.stale")
    await layer.group_add("room.1", "a.fresh")
    await layer.group_send("room.1", {"type": "first"})  # the walk of this second
    layer.groups["room.1"]["a.stale"] = time.time() - 120
    await layer.group_send("room.1", {"type": "second"})
    assert "a.stale" in layer.groups["room.1"]

    later = time.monotonic() + layers.CLEAN_SECONDS
    monkeypatch.setattr(layers.time, "monotonic", lambda: later)
    await layer.group_send("room.1", {"type": "third"})

    assert list(layer.groups["room.1"]) == ["a.fresh"]
    assert len(walks) == 2


async def test_pub_sub_events_published_over_the_lean_connection_arrive_whole_and_in_order():
    if not TEST_REDIS_URL:
        pytest.skip("no Redis for the tests (TEST_REDIS_URL unset)")
    hosts = [{"address": TEST_REDIS_URL}]
    prefix = f"parley-test-{uuid.uuid4().hex[:8]}"
    reader = LeanPublishingPubSubChannelLayer(hosts=hosts, prefix=prefix)
    publisher = LeanPublishingPubSubChannelLayer(hosts=hosts, prefix=prefix)  # another process
    channel = await reader.new_channel()
    await reader.group_add("room.1", channel)
    try:
        events = [{"type": "room.frame", "frames": ["é" * n], "seq": n} for n in range(50)]
        await asyncio.gather(*(publisher.group_send("room.1", event) for event in events))
        assert [await reader.receive(channel) for _ in events] == events
    finally:
        await reader.flush()
