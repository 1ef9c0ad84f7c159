"""Faults degrade, never crash: a failed publish is retried and never silent, a frame that meets
an outage is answered `unavailable`, a handshake during a Redis outage is told to try again."""

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import channel_layers, get_channel_layer
from django.conf import settings
from django.db import OperationalError
from django.test import override_settings

from chat import ratelimit, services
from chat.models import Message, Room
from tests.chat.conftest import ORIGIN, ChatClient, session_cookie
from tests.factories import UserFactory, make_room, new_client_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer")]

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@sync_to_async
def alice_and_bob_in_a_room():
    alice, bob = UserFactory(), UserFactory()
    return alice, bob, make_room(Room.Kind.DIRECT, alice, bob)


@pytest.fixture
def failing_publishes(monkeypatch):
    """The channel layer refuses the next `count` publishes (as a stale Redis connection does)."""
    layer = get_channel_layer()
    real = layer.group_send
    failures = {"left": 0}

    async def group_send(group, message):
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("Connection closed by server.")
        await real(group, message)

    monkeypatch.setattr(layer, "group_send", group_send)
    return failures


async def test_a_publish_that_fails_once_is_retried_and_delivered(sockets, failing_publishes):
    alice, bob, room = await alice_and_bob_in_a_room()
    sender, _ = await sockets(alice)
    receiver, _ = await sockets(bob)
    failing_publishes["left"] = 1
    await sender.send(type="send", room=room.id, body="after a restart", client_id=new_client_id())
    assert (await receiver.receive_type("message"))["message"]["body"] == "after a restart"
    assert (await sender.receive_type("message"))["message"]["body"] == "after a restart"


async def test_a_publish_that_keeps_failing_acknowledges_the_sender_and_tells_the_room_to_sync(
    sockets, failing_publishes
):
    alice, bob, room = await alice_and_bob_in_a_room()
    sender, _ = await sockets(alice)
    receiver, _ = await sockets(bob)
    failing_publishes["left"] = 100
    await sender.send(type="send", room=room.id, body="stored anyway", client_id=new_client_id())
    frames = [await sender.receive_unprompted(), await sender.receive_unprompted()]
    assert {f["type"] for f in frames} == {"message", "room.stale"}
    assert await receiver.receive_unprompted() == {"type": "room.stale", "room": room.id}
    await receiver.send(type="sync", room=room.id, after=0)
    synced = await receiver.receive_type("sync")
    assert [m["body"] for m in synced["messages"]] == ["stored anyway"]
    assert await Message.objects.filter(body="stored anyway").acount() == 1


@pytest.mark.parametrize("by", ["catch_up", "sweep"])
async def test_a_message_another_process_failed_to_publish_reaches_a_quiet_room(
    sockets, settings, by
):
    settings.CHAT_REVALIDATE_SECONDS = 0.3 if by == "sweep" else 60
    settings.CHAT_CATCH_UP_SECONDS = 0.3 if by == "catch_up" else 60
    alice, bob, room = await alice_and_bob_in_a_room()
    receiver, _ = await sockets(bob)
    # Stored by another process whose publish was lost: nothing is sent on this process's layer.
    await sync_to_async(services.message_store)(
        author=alice, room_id=room.id, body="lost in transit", client_id=new_client_id()
    )
    assert await receiver.receive(timeout=3) == {"type": "room.stale", "room": room.id}
    await receiver.send(type="sync", room=room.id, after=0)
    synced = await receiver.receive_type("sync")
    assert [m["body"] for m in synced["messages"]] == ["lost in transit"]
    assert await receiver.nothing(0.8)  # told once, not at every sweep


async def test_a_message_delivered_to_every_socket_sends_none_of_them_to_sync(sockets, settings):
    settings.CHAT_CATCH_UP_SECONDS = 0.2
    alice, bob, room = await alice_and_bob_in_a_room()
    sender, _ = await sockets(alice)
    receiver, _ = await sockets(bob)
    await sender.send(type="send", room=room.id, body="seen live", client_id=new_client_id())
    for client in (sender, receiver):
        assert (await client.receive_type("message"))["message"]["body"] == "seen live"
    # Past SETTLE, the catch-up looks at the room several times: both sockets were sent its last
    # message, so neither has anything to sync.
    assert await sender.nothing(1.5)
    assert await receiver.nothing(0.1)


async def test_a_database_outage_in_a_frame_is_answered_unavailable_and_the_socket_lives(
    sockets, monkeypatch
):
    alice, _, room = await alice_and_bob_in_a_room()
    client, _ = await sockets(alice)

    def database_down(requests):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(services, "messages_store", database_down)
    client_id = new_client_id()
    await client.send(type="send", room=room.id, body="hi", client_id=client_id)
    error = await client.receive()
    assert (error["code"], error["client_id"], error["retry_after"]) == (
        "unavailable",
        client_id,
        1,
    )
    await client.send(type="ping")
    assert await client.receive() == {"type": "pong"}


async def test_a_handshake_while_redis_is_down_is_told_to_try_again_1013():
    alice, _, _ = await alice_and_bob_in_a_room()
    layers = {
        "default": {
            "BACKEND": "realtime.layers.LeanPublishingPubSubChannelLayer",
            "CONFIG": {"hosts": [DEAD_REDIS]},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()
        try:
            cookie = await sync_to_async(session_cookie)(alice)
            cookie_header = f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()
            client = ChatClient([(b"cookie", cookie_header), (b"origin", ORIGIN)])
            connected, _ = await client.communicator.connect(timeout=10)
            assert connected
            assert await client.closed_with(timeout=10) == 1013
        finally:
            channel_layers.backends.clear()


def test_the_rate_limit_fails_open_while_redis_is_down(settings):
    settings.REDIS_URL = DEAD_REDIS
    settings.CHAT_RATE_PER_SECOND = 5
    assert ratelimit.take("post:1") == 0


async def test_faults_leave_open_sockets_usable(sockets, failing_publishes):
    alice, bob, room = await alice_and_bob_in_a_room()
    sender, _ = await sockets(alice)
    receiver, _ = await sockets(bob)
    failing_publishes["left"] = 100
    await sender.send(type="send", room=room.id, body="one", client_id=new_client_id())
    await receiver.receive_type("room.stale")
    failing_publishes["left"] = 0
    await asyncio.sleep(0.1)
    await sender.send(type="send", room=room.id, body="two", client_id=new_client_id())
    assert (await receiver.receive_type("message"))["message"]["body"] == "two"


async def test_the_sockets_of_a_process_whose_channel_overflows_are_closed_1013(
    sockets, channel_layer
):
    if channel_layer != "memory":
        pytest.skip("the in-memory layer's capacity: Redis layers are bounded by the backstop")
    alice, _, room = await alice_and_bob_in_a_room()
    client, _ = await sockets(alice)
    layer = get_channel_layer()
    channel = next(iter(layer.groups[f"room.{room.id}"]))  # the process's, read by its hub
    # More events than the process's channel holds, before the hub can read one (a revocation
    # could be among those dropped): rather than miss them, the sockets reconnect and sync.
    for n in range(layer.capacity + 10):
        with contextlib.suppress(ChannelFull):  # dropped, as group_send drops it
            await layer.send(channel, {"type": "room.frame", "room": 0, "frames": [str(n)]})
    assert await client.closed_with() == 1013
