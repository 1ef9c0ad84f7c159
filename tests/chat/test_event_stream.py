"""One ordered stream per room: every change takes the next position, goes out live with it, and
`sync` from a position replays exactly what a client that was away missed, compacted."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from accounts.services import api_token_create
from chat import services
from chat.models import Room
from tests.factories import UserFactory, make_room, new_client_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer")]


@sync_to_async
def a_private_room():
    owner, alice, dave, carol = (
        UserFactory(username=n) for n in ("olga", "alice", "dave", "carol")
    )
    room = make_room(Room.Kind.PRIVATE, owner, alice, dave)
    return owner, alice, dave, carol, room


def post(author, room, body):
    message, _ = services.message_post(
        author=author, room_id=room.id, body=body, client_id=new_client_id()
    )
    return message


async def test_every_change_goes_out_live_at_the_next_position(sockets):
    owner, alice, dave, _carol, room = await a_private_room()
    client, hello = await sockets(alice)
    start = next(r["last_pos"] for r in hello["rooms"] if r["id"] == room.id)

    def changes():
        first = post(owner, room, "first")
        services.message_edit(editor=owner, room_id=room.id, message_id=first.id, body="first!")
        services.member_invite(actor=owner, room_id=room.id, username="carol")
        services.member_remove(actor=owner, room_id=room.id, user_id=dave.id)
        services.message_delete(actor=owner, room_id=room.id, message_id=first.id)

    await sync_to_async(changes)()
    frames = [await client.receive() for _ in range(5)]
    assert [(f["type"], f["pos"]) for f in frames] == [
        ("message", start + 1),
        ("message.updated", start + 2),
        ("member.joined", start + 3),
        ("member.removed", start + 4),
        ("message.updated", start + 5),
    ]
    assert frames[2]["user"]["username"] == "carol"
    assert frames[4]["message"]["deleted"] is True


async def test_sync_after_an_absence_replays_edits_deletions_and_members_compacted(sockets):
    owner, alice, dave, carol, room = await a_private_room()
    client, hello = await sockets(alice)
    seen = next(r["last_pos"] for r in hello["rooms"] if r["id"] == room.id)
    await client.close()

    def while_away():
        kept = post(owner, room, "kept")
        gone = post(owner, room, "gone")
        services.message_edit(editor=owner, room_id=room.id, message_id=kept.id, body="kept, v2")
        services.message_edit(editor=owner, room_id=room.id, message_id=kept.id, body="kept, v3")
        services.message_delete(actor=owner, room_id=room.id, message_id=gone.id)
        services.member_invite(actor=owner, room_id=room.id, username="carol")
        services.member_remove(actor=owner, room_id=room.id, user_id=dave.id)
        services.room_leave(user=carol, room_id=room.id)
        post(owner, room, "latest")

    await sync_to_async(while_away)()
    client, hello = await sockets(alice)
    last_pos = next(r["last_pos"] for r in hello["rooms"] if r["id"] == room.id)
    await client.send(type="sync", room=room.id, after=seen)
    answer = await client.receive_type("sync")
    summary = [
        (e["type"], e["message"]["body"] if "message" in e else e["user"]["username"])
        for e in answer["events"]
    ]
    assert summary == [
        ("message", "kept, v3"),  # once, in its latest state
        ("message", ""),  # the deleted one, as a tombstone
        ("member.joined", "carol"),
        ("member.removed", "dave"),
        ("member.left", "carol"),
        ("message", "latest"),
    ]
    assert answer["events"][1]["message"]["deleted"] is True
    positions = [e["pos"] for e in answer["events"]]
    assert positions == sorted(positions) and positions[-1] == last_pos
    assert (answer["last_pos"], answer["has_more"]) == (last_pos, False)
    await client.send(type="sync", room=room.id, after=last_pos)
    assert (await client.receive_type("sync"))["events"] == []


async def test_a_long_absence_is_replayed_in_pages_without_loss_or_repeat(sockets):
    owner, alice, dave, _carol, room = await a_private_room()

    def many():
        for n in range(130):
            post(owner, room, f"m{n}")
        services.member_remove(actor=owner, room_id=room.id, user_id=dave.id)

    await sync_to_async(many)()
    client, _ = await sockets(alice)
    after, events, pages = 0, [], 0
    while True:
        await client.send(type="sync", room=room.id, after=after)
        answer = await client.receive_type("sync")
        events += answer["events"]
        after, pages = answer["last_pos"], pages + 1
        if not answer["has_more"]:
            break
    assert pages == 2
    assert [e["pos"] for e in events] == list(range(1, 132))
    assert events[-1]["type"] == "member.removed"


async def test_the_api_and_the_socket_publish_the_same_frame(sockets):
    owner, alice, _dave, _carol, room = await a_private_room()
    listener, _ = await sockets(alice)
    sender, _ = await sockets(owner)
    await sender.send(type="send", room=room.id, body="by socket", client_id=new_client_id())
    by_socket = await listener.receive_type("message")
    _, key = await sync_to_async(api_token_create)(user=owner, name="bot")
    response = await sync_to_async(Client().post)(
        f"/api/rooms/{room.id}/messages/",
        {"body": "by api", "client_id": new_client_id()},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 201
    by_api = await listener.receive_type("message")
    assert set(by_api) == set(by_socket) == {"type", "room", "pos", "message"}
    assert by_api["pos"] == by_socket["pos"] + 1
