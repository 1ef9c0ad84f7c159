"""A socket survives what it could answer, every frame type has a budget, and the per-user
socket count heals by itself after a crash."""

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from chat import presence, services
from chat.models import Room
from tests.chat.conftest import ORIGIN, ChatClient, session_cookie, shared_state_in_redis
from tests.factories import UserFactory, make_room

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer")]


@sync_to_async
def alice_in_a_room():
    alice, bob = UserFactory(), UserFactory()
    return alice, make_room(Room.Kind.DIRECT, alice, bob)


async def test_a_frame_nested_30000_deep_is_a_bad_request_and_the_socket_lives(sockets):
    alice, _ = await alice_in_a_room()
    client, _ = await sockets(alice)
    await client.send_raw(text="[" * 30_000 + "]" * 30_000)
    assert (await client.receive())["code"] == "bad_request"
    await client.send_raw(text='{"type": "ping", "x": [[[[[1]]]]]}')
    assert (await client.receive())["code"] == "bad_request"
    await client.send(type="ping")
    assert await client.receive() == {"type": "pong"}


async def test_an_unexpected_error_in_a_handler_is_answered_internal_and_the_socket_lives(
    sockets, monkeypatch, caplog
):
    alice, room = await alice_in_a_room()
    client, _ = await sockets(alice)

    def broken(requests):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "messages_store", broken)
    client_id = str(uuid.uuid4())
    await client.send(type="send", room=room.id, body="hi", client_id=client_id)
    error = await client.receive()
    assert (error["code"], error["client_id"]) == ("internal", client_id)
    assert "a bug" not in error["detail"]
    assert "socket frame failed" in caplog.text
    await client.send(type="ping")
    assert await client.receive() == {"type": "pong"}


@pytest.mark.parametrize(("frame_type", "burst"), [("typing", 6), ("history", 30), ("ping", 10)])
async def test_every_frame_type_has_a_budget(sockets, settings, frame_type, burst):
    settings.CHAT_RATE_PER_SECOND = 5
    alice, room = await alice_in_a_room()
    client, _ = await sockets(alice)
    for _ in range(burst + 5):
        await client.send(type=frame_type, room=room.id)
    answers = []
    while not await client.nothing(0.5):
        answers.append(await client.receive())
    limited = [a for a in answers if a.get("code") == "rate_limited"]
    assert 3 <= len(limited) <= 5  # the budget refills a little while the frames arrive
    assert all(0 < a["retry_after"] <= 1 for a in limited)


@pytest.fixture(params=["memory", "redis"])
def socket_counts(request, settings):
    """Socket counts kept in this process, or in Redis (several processes)."""
    if request.param == "redis":
        shared_state_in_redis(settings)
    settings.CHAT_SOCKET_TTL = 1
    settings.CHAT_MAX_SOCKETS_PER_USER = 2
    return request.param


async def connect_as(user) -> ChatClient:
    cookie = await sync_to_async(session_cookie)(user)
    headers = [
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        (b"origin", ORIGIN),
    ]
    return await ChatClient(headers).connect()


async def test_sockets_left_by_a_crashed_process_stop_counting_within_the_ttl(socket_counts):
    alice, _ = await alice_in_a_room()
    for ghost in ("dead-process-1", "dead-process-2"):  # counted, then never renewed nor closed
        assert await sync_to_async(presence.socket_open)(
            user_id=alice.id, socket_id=ghost, hidden=False
        )
    refused = await connect_as(alice)
    assert (await refused.receive())["code"] == "too_many_sockets"
    assert await refused.closed_with() == 4429
    await asyncio.sleep(1.2)
    healed = await connect_as(alice)
    assert (await healed.receive())["type"] == "hello"
    await healed.close()
    assert await sync_to_async(presence.socket_count)(user_id=alice.id) == 0


async def test_open_sockets_keep_counting_past_the_ttl(socket_counts, settings):
    settings.CHAT_REVALIDATE_SECONDS = 0.3  # the backstop renews the counts as often
    alice, _ = await alice_in_a_room()
    first, second = await connect_as(alice), await connect_as(alice)
    assert (await first.receive())["type"] == (await second.receive())["type"] == "hello"
    await asyncio.sleep(1.5)  # past the TTL: the backstop renewed both
    assert await sync_to_async(presence.socket_count)(user_id=alice.id) == 2
    third = await connect_as(alice)
    assert (await third.receive())["code"] == "too_many_sockets"
    await first.close()
    await second.close()
