"""The chat socket through the real ASGI application, on both channel layers."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message, Room
from tests.factories import UserFactory, make_room, new_client_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer")]


@sync_to_async
def users(n):
    return [UserFactory() for _ in range(n)]


@sync_to_async
def room(kind, *members):
    return make_room(kind, *members)


@sync_to_async
def stored(room_obj):
    return list(Message.objects.filter(room=room_obj).order_by("seq").values_list("seq", "body"))


async def test_hello_lists_the_users_rooms_with_last_seq(sockets):
    alice, bob = await users(2)
    dm = await room(Room.Kind.DIRECT, alice, bob)
    _, hello = await sockets(alice)
    assert hello["user"]["username"] == alice.username
    assert [(r["id"], r["kind"], r["last_seq"]) for r in hello["rooms"]] == [(dm.id, "direct", 0)]
    assert hello["rooms"][0]["name"] == bob.display_name


async def test_two_users_exchange_messages_in_a_direct_room(sockets):
    alice, bob = await users(2)
    dm = await room(Room.Kind.DIRECT, alice, bob)
    a, _ = await sockets(alice)
    b, _ = await sockets(bob)
    cid = new_client_id()
    await a.send(type="send", room=dm.id, body="Hi Bob", client_id=cid)
    for client in (a, b):
        frame = await client.receive_type("message")
        assert frame["room"] == dm.id
        assert frame["message"]["body"] == "Hi Bob"
        assert frame["message"]["seq"] == 1
        assert frame["message"]["client_id"] == cid
        assert frame["message"]["author"]["username"] == alice.username
    await b.send(type="send", room=dm.id, body="Hi Alice", client_id=new_client_id())
    assert (await a.receive_type("message"))["message"]["body"] == "Hi Alice"
    assert await stored(dm) == [(1, "Hi Bob"), (2, "Hi Alice")]


async def test_public_room_with_three_users_each_receives_every_message_once(sockets):
    people = await users(3)
    general = await room(Room.Kind.PUBLIC, *people)
    clients = [(await sockets(p))[0] for p in people]
    for index, client in enumerate(clients):
        await client.send(
            type="send", room=general.id, body=f"from {index}", client_id=new_client_id()
        )
        for receiver in clients:
            frame = await receiver.receive_type("message")
            assert frame["message"]["body"] == f"from {index}"
    for client in clients:
        assert await client.nothing()


async def test_outsider_receives_nothing_and_cannot_send(sockets):
    alice, bob, carol = await users(3)
    dm = await room(Room.Kind.DIRECT, alice, bob)
    a, _ = await sockets(alice)
    c, hello = await sockets(carol)
    assert hello["rooms"] == []
    await a.send(type="send", room=dm.id, body="secret", client_id=new_client_id())
    await a.receive_type("message")
    assert await c.nothing()
    await c.send(type="send", room=dm.id, body="intrusion", client_id=new_client_id())
    error = await c.receive()
    assert (error["type"], error["code"]) == ("error", "not_found")
    for frame_type, extra in (("history", {}), ("sync", {"after": 0})):
        await c.send(type=frame_type, room=dm.id, **extra)
        assert (await c.receive())["code"] == "not_found"
    assert await stored(dm) == [(1, "secret")]


async def test_a_resent_client_id_is_stored_once_and_answered_with_the_same_message(sockets):
    alice, bob = await users(2)
    dm = await room(Room.Kind.DIRECT, alice, bob)
    a, _ = await sockets(alice)
    cid = new_client_id()
    await a.send(type="send", room=dm.id, body="once", client_id=cid)
    first = await a.receive_type("message")
    await a.send(type="send", room=dm.id, body="once", client_id=cid)
    again = await a.receive_type("message")
    assert again["message"] == first["message"]
    assert await a.nothing()
    assert await stored(dm) == [(1, "once")]


async def test_history_pages_back_with_before_limit_and_has_more(sockets):
    alice, bob = await users(2)
    dm = await room(Room.Kind.DIRECT, alice, bob)
    await sync_to_async(_post_many)(alice, dm, 120)
    a, _ = await sockets(alice)
    await a.send(type="history", room=dm.id, limit=50)
    page = await a.receive_type("history")
    assert [m["seq"] for m in page["messages"]] == list(range(71, 121))
    assert page["has_more"] is True
    await a.send(type="history", room=dm.id, before=71, limit=50)
    page = await a.receive_type("history")
    assert [m["seq"] for m in page["messages"]] == list(range(21, 71))
    await a.send(type="history", room=dm.id, before=21, limit=50)
    page = await a.receive_type("history")
    assert [m["seq"] for m in page["messages"]] == list(range(1, 21))
    assert page["has_more"] is False


def _post_many(author, room_obj, count):
    from chat import services

    for index in range(count):
        services.message_post(
            author=author, room_id=room_obj.id, body=f"m{index + 1}", client_id=new_client_id()
        )


async def test_sync_after_a_reconnect_returns_exactly_the_missed_messages(sockets):
    alice, bob = await users(2)
    dm = await room(Room.Kind.DIRECT, alice, bob)
    b, hello = await sockets(bob)
    await sync_to_async(_post_many)(alice, dm, 3)
    for _ in range(3):
        await b.receive_type("message")
    await b.close()
    await sync_to_async(_post_many)(alice, dm, 4)
    b2, hello = await sockets(bob)
    assert hello["rooms"][0]["last_seq"] == 7
    await b2.send(type="sync", room=dm.id, after=3)
    frame = await b2.receive_type("sync")
    assert [m["seq"] for m in frame["messages"]] == [4, 5, 6, 7]
    assert [m["body"] for m in frame["messages"]] == ["m1", "m2", "m3", "m4"]
    assert frame["has_more"] is False


async def test_seq_is_gap_free_under_concurrent_senders(sockets):
    people = await users(4)
    general = await room(Room.Kind.PUBLIC, *people)
    clients = [(await sockets(p))[0] for p in people]
    per_sender = 10
    await asyncio.gather(
        *(
            client.send(type="send", room=general.id, body=f"{i}-{n}", client_id=new_client_id())
            for n in range(per_sender)
            for i, client in enumerate(clients)
        )
    )
    received = [
        (await clients[0].receive_type("message", timeout=10))["message"]["seq"]
        for _ in range(per_sender * len(clients))
    ]
    assert sorted(received) == list(range(1, per_sender * len(clients) + 1))
    seqs = [seq for seq, _ in await stored(general)]
    assert seqs == list(range(1, per_sender * len(clients) + 1))


async def test_private_room_invite_and_removal_start_and_stop_the_stream(sockets):
    from chat import services

    alice, bob = await users(2)
    private = await sync_to_async(services.room_create_private)(owner=alice, name="Plans")
    a, _ = await sockets(alice)
    b, hello = await sockets(bob)
    assert hello["rooms"] == []
    await sync_to_async(services.member_invite)(
        actor=alice, room_id=private.id, username=bob.username
    )
    added = await b.receive_type("room.added")
    assert added["room"]["id"] == private.id
    await a.send(type="send", room=private.id, body="welcome", client_id=new_client_id())
    assert (await b.receive_type("message"))["message"]["body"] == "welcome"
    await sync_to_async(services.member_remove)(actor=alice, room_id=private.id, user_id=bob.id)
    assert (await b.receive_type("room.removed"))["room"] == private.id
    await a.send(type="send", room=private.id, body="after removal", client_id=new_client_id())
    await a.receive_type("message")
    assert await b.nothing()
    await b.send(type="sync", room=private.id, after=0)
    assert (await b.receive())["code"] == "not_found"


async def test_html_is_stored_and_sent_as_typed(sockets):
    alice, bob = await users(2)
    dm = await room(Room.Kind.DIRECT, alice, bob)
    a, _ = await sockets(alice)
    payload = "<img src=x onerror=alert(1)>"
    await a.send(type="send", room=dm.id, body=payload, client_id=new_client_id())
    assert (await a.receive_type("message"))["message"]["body"] == payload
    assert await stored(dm) == [(1, payload)]


@pytest.mark.parametrize("channel_layer", ["redis", "pubsub"], indirect=True)
async def test_a_socket_idle_longer_than_redis_read_timeouts_still_receives(sockets):
    alice, bob = await users(2)
    dm = await room(Room.Kind.DIRECT, alice, bob)
    b, _ = await sockets(bob)
    await asyncio.sleep(6)  # past redis-py 8's default 5 s socket timeout
    await sync_to_async(_post_many)(alice, dm, 1)
    assert (await b.receive_type("message"))["message"]["body"] == "m1"
