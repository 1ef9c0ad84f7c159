"""What the one-page workspace needs from the server: room summaries, the read position shared
by a user's tabs, the rooms/members frames, new public rooms for everyone, history around a seq."""

import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import queries, services
from chat.models import Room
from chat.serializers import room_dict
from tests.factories import UserFactory, make_room

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer")]


@sync_to_async
def users(n):
    return [UserFactory() for _ in range(n)]


@sync_to_async
def room(kind, *members, name=None):
    return make_room(kind, *members, name=name)


@sync_to_async
def post(author, room_obj, body):
    message, _ = services.message_post(
        author=author, room_id=room_obj.id, body=body, client_id=uuid.uuid4()
    )
    return message


async def test_hello_carries_each_rooms_summary(sockets):
    alice, bob = await users(2)
    dm = await room(Room.Kind.DIRECT, alice, bob)
    await post(alice, dm, "mine never counts")
    await post(bob, dm, "first")
    last = await post(bob, dm, "x" * 300)
    _, hello = await sockets(alice)
    [summary] = hello["rooms"]
    assert summary["unread"] == 2
    assert summary["last_read_seq"] == 0
    assert summary["role"] == "member"
    assert summary["url"] == f"/chat/dm/{bob.username}/"
    assert summary["partner"]["username"] == bob.username
    assert summary["avatar_url"] == summary["partner"]["avatar_url"]
    preview = summary["preview"]
    assert preview["seq"] == last.seq
    assert preview["author"] == {
        "id": bob.id,
        "username": bob.username,
        "display_name": bob.display_name,
    }
    assert len(preview["body"]) == 120 and preview["body"].endswith("…")


async def test_the_preview_is_the_latest_message_that_still_stands(sockets):
    alice, bob = await users(2)
    general = await room(Room.Kind.PUBLIC, alice, bob)
    await post(bob, general, "keep me")
    oops = await post(bob, general, "oops wrong room")
    await sync_to_async(services.message_delete)(actor=bob, room_id=general.id, message_id=oops.id)
    _, hello = await sockets(alice)
    assert hello["rooms"][0]["preview"]["body"] == "keep me"
    assert hello["rooms"][0]["unread"] == 1
    assert hello["rooms"][0]["avatar_url"] is None and hello["rooms"][0]["partner"] is None


def test_room_summaries_take_a_fixed_number_of_queries():
    alice = UserFactory()

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            [room_dict(r) for r in queries.rooms_for_user(user=alice)]
        return len(captured)

    other = UserFactory()
    dm = make_room(Room.Kind.DIRECT, alice, other)
    services.message_post(author=other, room_id=dm.id, body="hi", client_id=uuid.uuid4())
    few = count()
    for _ in range(10):
        other = UserFactory()
        dm = make_room(Room.Kind.DIRECT, alice, other)
        services.message_post(author=other, room_id=dm.id, body="hi", client_id=uuid.uuid4())
        make_room(Room.Kind.PRIVATE, alice, other)
    assert count() == few <= 4


async def frame_types_within(client, seconds=0.5) -> list[str]:
    """The types of the frames a socket receives until it has been quiet for `seconds`."""
    types = []
    while not await client.nothing(seconds):
        types.append((await client.receive())["type"])
    return types


async def test_reading_in_one_tab_tells_the_users_other_tabs_and_nobody_else(sockets):
    alice, bob = await users(2)
    dm = await room(Room.Kind.DIRECT, alice, bob)
    await post(bob, dm, "one")
    await post(bob, dm, "two")
    first_tab, _ = await sockets(alice)
    second_tab, _ = await sockets(alice)
    bob_socket, _ = await sockets(bob)
    await first_tab.send(type="read", room=dm.id, seq=2)
    for tab in (first_tab, second_tab):
        assert await tab.receive_type("read") == {"type": "read", "room": dm.id, "seq": 2}
    # Bob may see a read receipt (people's work), never Alice's read position as his own.
    assert "read" not in await frame_types_within(bob_socket)
    # Reading back, or again, moves nothing and says nothing.
    await first_tab.send(type="read", room=dm.id, seq=1)
    await first_tab.send(type="read", room=dm.id, seq=2)
    assert "read" not in await frame_types_within(second_tab)
    _, hello = await sockets(alice)
    assert hello["rooms"][0]["unread"] == 0 and hello["rooms"][0]["last_read_seq"] == 2


async def test_rooms_frame_answers_the_summaries_and_public_rooms_to_join(sockets):
    alice, bob = await users(2)
    dm = await room(Room.Kind.DIRECT, alice, bob)
    lounge = await room(Room.Kind.PUBLIC, bob, name="Lounge")
    client, _ = await sockets(alice)
    await post(bob, dm, "while you were away")
    await client.send(type="rooms")
    answer = await client.receive_type("rooms")
    assert [(r["id"], r["unread"]) for r in answer["rooms"]] == [(dm.id, 1)]
    assert answer["rooms"][0]["preview"]["body"] == "while you were away"
    assert answer["public_rooms"] == [
        {
            "id": lounge.id,
            "kind": "public",
            "name": "Lounge",
            "slug": lounge.slug,
            "url": f"/chat/r/{lounge.slug}/",
        }
    ]


async def test_members_frame_is_for_members_only(sockets):
    alice, bob, carol = await users(3)
    club = await room(Room.Kind.PRIVATE, alice, bob, name="Club")
    client, _ = await sockets(alice)
    await client.send(type="members", room=club.id)
    answer = await client.receive_type("members")
    assert [(m["username"], m["role"]) for m in answer["members"]] == [
        (alice.username, "owner"),
        (bob.username, "member"),
    ]
    outsider, _ = await sockets(carol)
    await outsider.send(type="members", room=club.id)
    error = await outsider.receive_type("error")
    assert error["code"] == "not_found"


async def test_a_new_public_room_reaches_every_signed_in_socket(sockets):
    staff, alice = await users(2)
    await sync_to_async(type(staff).objects.filter(id=staff.id).update)(is_staff=True)
    await sync_to_async(staff.refresh_from_db)()
    client, _ = await sockets(alice)
    created = await sync_to_async(services.room_create_public)(creator=staff, name="Town hall")
    frame = await client.receive_type("public_room.added")
    assert frame["room"] == {
        "id": created.id,
        "kind": "public",
        "name": "Town hall",
        "slug": created.slug,
        "url": f"/chat/r/{created.slug}/",
    }
    # Alice is no member: nothing of the room's stream reaches her.
    await post(staff, created, "welcome")
    assert await client.nothing()
    await sync_to_async(services.room_delete)(actor=staff, room_id=created.id)
    assert (await client.receive_type("public_room.removed"))["room"] == created.id


async def test_history_around_a_seq_is_centred_on_it(sockets):
    alice, bob = await users(2)
    general = await room(Room.Kind.PUBLIC, alice, bob)
    for n in range(1, 31):
        await post(bob, general, f"message {n}")
    client, _ = await sockets(alice)
    await client.send(type="history", room=general.id, around=10, limit=10)
    answer = await client.receive_type("history")
    assert [m["seq"] for m in answer["messages"]] == list(range(5, 15))
    assert answer["has_more"] is True and answer["has_newer"] is True
    assert answer["around"] == 10
    await client.send(type="history", room=general.id, around=28, limit=10)
    answer = await client.receive_type("history")
    assert [m["seq"] for m in answer["messages"]] == list(range(23, 31))
    assert answer["has_newer"] is False
    await client.send(type="history", room=general.id, around=10, before=5)
    assert (await client.receive_type("error"))["code"] == "bad_request"


async def test_history_around_is_for_members_only(sockets):
    alice, carol = await users(2)
    club = await room(Room.Kind.PRIVATE, alice, name="Club")
    await post(alice, club, "secret")
    outsider, _ = await sockets(carol)
    await outsider.send(type="history", room=club.id, around=1)
    assert (await outsider.receive_type("error"))["code"] == "not_found"
    assert await outsider.nothing()
