"""The hub: one subscription per group per process, whatever the number of local sockets."""

import asyncio
import json
from urllib.parse import urlsplit

import psutil
import pytest
from channels.layers import get_channel_layer

from config.asgi import application
from tests.chat.conftest import open_socket, shared_state_in_redis
from tests.chat.test_socket_faults import alice_and_bob_in_a_room
from tests.conftest import TEST_REDIS_URL
from tests.factories import new_client_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_sockets_of_one_room_share_one_subscription_and_the_last_one_out_ends_it(
    channel_layer,
):
    if channel_layer != "memory":
        pytest.skip("the in-memory layer's groups can be read directly")
    alice, bob, room = await alice_and_bob_in_a_room()  # a direct chat
    layer = get_channel_layer()
    group = f"room.{room.id}"
    clients = [(await open_socket(user))[0] for user in (alice, bob, bob)]
    assert len(layer.groups[group]) == 1
    await clients[0].send(type="send", room=room.id, body="to all three", client_id=new_client_id())
    for client in clients:
        assert (await client.receive_type("message"))["message"]["body"] == "to all three"
    for client in clients[:2]:
        await client.close()
    assert len(layer.groups[group]) == 1
    await clients[2].close()
    await asyncio.sleep(0)
    assert group not in layer.groups


class StallingClient:
    """The ASGI application, with a client that can stop reading: while `reading` is clear, each
    frame written to it waits, as a write to a full TCP buffer does."""

    def __init__(self):
        self.reading = asyncio.Event()
        self.reading.set()

    async def __call__(self, scope, receive, send):
        async def send_when_read(message):
            if message["type"] == "websocket.send":
                await self.reading.wait()
            await send(message)

        await application(scope, receive, send_when_read)


async def test_a_socket_that_falls_behind_is_closed_1013_and_its_sync_misses_nothing(
    channel_layer, sockets, settings
):
    settings.CHAT_OUTBOX_MAX = 20
    alice, bob, room = await alice_and_bob_in_a_room()
    sender, _ = await sockets(alice)
    stalling = StallingClient()
    reader, _ = await open_socket(bob, app=stalling)
    stalling.reading.clear()
    bodies = [f"while you were away {n}" for n in range(30)]
    for body in bodies:
        await sender.send(type="send", room=room.id, body=body, client_id=new_client_id())
        await sender.receive_type("message")  # stored and published
    stalling.reading.set()
    seen = []
    while (output := await reader.communicator.receive_output(3))["type"] == "websocket.send":
        seen.append(json.loads(output["text"]))
    assert (output["type"], output.get("code")) == ("websocket.close", 1013)
    assert len([frame for frame in seen if frame["type"] == "message"]) < len(bodies)
    again, _ = await sockets(bob)
    await again.send(type="sync", room=room.id, after=0)
    synced = await again.receive_type("sync")
    assert [message["body"] for message in synced["messages"]] == bodies


async def test_sockets_read_their_revocation_markers_through_one_redis_client(sockets, settings):
    """Django's `cache` is one client per async context: read through it, every socket would
    hold a Redis connection of its own, and Redis refuses clients past 10,000."""
    shared_state_in_redis(settings)
    alice, bob, _ = await alice_and_bob_in_a_room()
    before = _redis_connections()
    clients = [(await sockets(user))[0] for user in [alice, bob] * 10]
    for client in clients:
        await client.send(type="ping")
        assert (await client.receive_type("pong"))["type"] == "pong"
    assert len(_redis_connections() - before) < len(clients) // 2  # 20 sockets: 4 here


def _redis_connections() -> set:
    """This process's open TCP connections to the tests' Redis."""
    port = urlsplit(TEST_REDIS_URL).port or 6379
    return {
        connection.laddr
        for connection in psutil.Process().net_connections(kind="tcp")
        if connection.raddr and connection.raddr.port == port
    }
