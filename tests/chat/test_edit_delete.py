"""Editing and deleting messages: who may, what everyone sees, and that seq keeps no gap."""

import pytest
from asgiref.sync import sync_to_async

from chat import services
from chat.errors import Forbidden
from chat.models import Message, Room
from tests.factories import UserFactory, make_room, new_client_id

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def setup_room(kind=Room.Kind.PRIVATE):
    owner, member = UserFactory(), UserFactory()
    room = make_room(kind, owner, member)
    message, _ = services.message_post(
        author=member, room_id=room.id, body="first draft", client_id=new_client_id()
    )
    return owner, member, room, message


@pytest.mark.usefixtures("channel_layer")
async def test_author_edits_and_every_socket_sees_the_new_text(sockets):
    owner, member, room, message = await setup_room()
    owner_socket, _ = await sockets(owner)
    member_socket, _ = await sockets(member)
    await member_socket.send(type="edit", room=room.id, id=message.id, body="final text")
    for client in (owner_socket, member_socket):
        frame = await client.receive_type("message.updated")
        assert frame["message"]["body"] == "final text"
        assert frame["message"]["edited_at"] is not None
        assert frame["message"]["seq"] == message.seq
    stored = await Message.objects.aget(id=message.id)
    assert (stored.body, stored.edited_at is not None) == ("final text", True)


async def test_only_the_author_edits(sockets):
    owner, _, room, message = await setup_room()
    owner_socket, _ = await sockets(owner)
    await owner_socket.send(type="edit", room=room.id, id=message.id, body="not mine")
    assert (await owner_socket.receive())["code"] == "forbidden"
    assert (await Message.objects.aget(id=message.id)).body == "first draft"


async def test_owner_deletes_a_members_message_leaving_a_tombstone_and_no_gap(sockets):
    owner, member, room, message = await setup_room()
    member_socket, _ = await sockets(member)
    owner_socket, _ = await sockets(owner)
    await owner_socket.send(type="delete", room=room.id, id=message.id)
    frame = await member_socket.receive_type("message.updated")
    assert (frame["message"]["deleted"], frame["message"]["body"]) == (True, "")
    await member_socket.send(type="sync", room=room.id, after=0)
    synced = (await member_socket.receive_type("sync"))["messages"]
    assert [(m["seq"], m["deleted"], m["body"]) for m in synced] == [(1, True, "")]
    await member_socket.send(type="edit", room=room.id, id=message.id, body="resurrect")
    assert (await member_socket.receive())["code"] == "not_found"


async def test_in_a_direct_chat_only_the_author_deletes():
    alice, bob, room, message = await setup_room(Room.Kind.DIRECT)
    with pytest.raises(Forbidden):
        await sync_to_async(services.message_delete)(
            actor=alice, room_id=room.id, message_id=message.id
        )
    await sync_to_async(services.message_delete)(actor=bob, room_id=room.id, message_id=message.id)
    assert (await Message.objects.aget(id=message.id)).deleted_at is not None


async def test_an_outsider_cannot_edit_or_delete(sockets):
    _, _, room, message = await setup_room()
    outsider = await sync_to_async(UserFactory)()
    client, _ = await sockets(outsider)
    for frame in ({"type": "edit", "body": "x"}, {"type": "delete"}):
        await client.send(room=room.id, id=message.id, **frame)
        assert (await client.receive())["code"] == "not_found"
    assert (await Message.objects.aget(id=message.id)).body == "first draft"


def test_deleted_messages_show_as_deleted_on_the_page_and_vanish_from_the_lobby(client):
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.DIRECT, alice, bob)
    kept, _ = services.message_post(
        author=alice, room_id=room.id, body="kept", client_id=new_client_id()
    )
    gone, _ = services.message_post(
        author=alice, room_id=room.id, body="oops", client_id=new_client_id()
    )
    services.message_delete(actor=alice, room_id=room.id, message_id=gone.id)
    client.force_login(bob)
    page = client.get(f"/chat/dm/{alice.username}/").content.decode()
    assert "This message was deleted." in page and "oops" not in page
    lobby = client.get("/chat/").content.decode()
    assert kept.body in lobby and "oops" not in lobby
