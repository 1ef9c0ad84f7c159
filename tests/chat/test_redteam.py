"""Holes found by attacking the workspace, presence, receipts and cards with a plain client; each
test failed before its fix."""

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client

from accounts import services as account_services
from accounts.models import User
from chat import queries, services
from chat.models import Membership
from realtime import publisher
from tests.chat.conftest import session_cookie
from tests.factories import UserFactory, make_room

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer")]


@sync_to_async
def users(n):
    return [UserFactory() for _ in range(n)]


@sync_to_async
def post(author, room, body):
    return services.message_post(author=author, room_id=room.id, body=body, client_id=uuid.uuid4())


async def frames_within(client, seconds) -> list[dict]:
    frames = []
    while not await client.nothing(seconds):
        frames.append(await client.receive())
    return frames


@pytest.fixture
def settings_events_lost(monkeypatch):
    """The channel layer loses every user.settings event (it delivers at most once)."""
    publish = publisher.publish

    async def lossy(group, event, *, room_id=None):
        if event["type"] == "user.settings":
            return True
        return await publish(group, event, room_id=room_id)

    monkeypatch.setattr(publisher, "publish", lossy)


async def test_receipts_turned_off_stay_off_on_a_socket_that_missed_the_settings_event(
    sockets, settings_events_lost
):
    alice, bob = await users(2)
    direct = await sync_to_async(make_room)("direct", alice, bob)
    await post(alice, direct, "are you there?")
    alice_socket, _ = await sockets(alice)
    bob_socket, _ = await sockets(bob)
    fresh = await sync_to_async(User.objects.get)(id=bob.id)
    await sync_to_async(account_services.presence_settings_update)(
        user=fresh, show_presence=True, send_read_receipts=False, time_zone=""
    )
    await bob_socket.send(type="read", room=direct.id, seq=1)
    await asyncio.sleep(0.3)
    told = [f for f in await frames_within(alice_socket, 0.5) if f["type"] == "receipt"]
    assert told == []


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_history_around_a_message_always_includes_it(sockets, limit):
    (alice,) = await users(1)
    group = await sync_to_async(make_room)("private", alice)
    for n in range(5):
        await post(alice, group, f"m{n + 1}")
    client, _ = await sockets(alice)
    await client.send(type="history", room=group.id, around=3, limit=limit)
    answer = await client.receive_type("history")
    seqs = [message["seq"] for message in answer["messages"]]
    assert 3 in seqs and len(seqs) == limit
    assert answer["has_more"] is (seqs[0] > 1) and answer["has_newer"] is (seqs[-1] < 5)


@sync_to_async
def crowded_public_room(extra: int):
    """A public room of alice and `extra` more people (made in bulk: no password hashing)."""
    alice = UserFactory()
    public = make_room("public", alice)
    crowd = User.objects.bulk_create(
        User(username=f"crowd{n}", email=f"crowd{n}@example.com") for n in range(extra)
    )
    Membership.objects.bulk_create(Membership(room=public, user=person) for person in crowd)
    return alice, public


async def test_a_large_rooms_member_list_is_bounded_and_counted(sockets, channel_layer):
    if channel_layer != "memory":
        pytest.skip("the member list does not depend on the channel layer")
    total = queries.MEMBERS_SHOWN + 50
    alice, public = await crowded_public_room(total - 1)
    client, _ = await sockets(alice)
    await client.send(type="members", room=public.id)
    answer = await client.receive_type("members")
    assert answer["count"] == total
    assert len(answer["members"]) == queries.MEMBERS_SHOWN
    assert answer["members"][0]["id"] == alice.id

    browser = await sync_to_async(Client)()
    browser.cookies[settings.SESSION_COOKIE_NAME] = await sync_to_async(session_cookie)(
        await sync_to_async(UserFactory)()  # an outsider previewing the public room
    )
    page = await sync_to_async(browser.get)(f"/chat/r/{public.slug}/")
    assert page.status_code == 200
    assert f"Public room · {total} members" in page.content.decode()
    assert page.context["workspace"]["open"]["member_count"] == total
    assert len(page.context["workspace"]["open"]["members"]) == queries.MEMBERS_SHOWN


async def test_the_everyone_group_carries_public_rooms_and_nothing_of_private_ones(sockets):
    staff, alice, bob, outsider = await users(4)
    await sync_to_async(User.objects.filter(id=staff.id).update)(is_staff=True)
    staff = await sync_to_async(User.objects.get)(id=staff.id)
    spy, _ = await sockets(outsider)
    plans = await sync_to_async(services.room_create_private)(owner=alice, name="Secret plans")
    await sync_to_async(services.member_invite)(
        actor=alice, room_id=plans.id, username=bob.username
    )
    await post(alice, plans, "the secret")
    await sync_to_async(services.member_remove)(actor=alice, room_id=plans.id, user_id=bob.id)
    await sync_to_async(services.room_delete)(actor=alice, room_id=plans.id)
    assert await frames_within(spy, 0.5) == []

    town = await sync_to_async(services.room_create_public)(creator=staff, name="Town square")
    added = await spy.receive()
    assert added["type"] == "public_room.added"
    assert (added["room"]["id"], added["room"]["kind"]) == (town.id, "public")
    await sync_to_async(services.room_delete)(actor=staff, room_id=town.id)
    assert await spy.receive() == {"type": "public_room.removed", "room": town.id}
