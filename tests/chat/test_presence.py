"""Presence, read receipts, typing and profile cards through the real ASGI application, with
presence kept in this process and in Redis (several processes)."""

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async

from accounts import services as account_services
from accounts.models import User
from chat import presence, queries, services
from chat.models import Membership
from tests.chat.conftest import shared_state_in_redis
from tests.factories import UserFactory, make_room, new_client_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer")]


@pytest.fixture(params=["memory", "redis"])
def presence_store(request, settings):
    """Presence kept in this process, or in Redis (shared by several processes)."""
    if request.param == "redis":
        shared_state_in_redis(settings)
    return request.param


@sync_to_async
def users(n, **fields):
    return [UserFactory(**fields) for _ in range(n)]


@sync_to_async
def room(kind, *members):
    return make_room(kind, *members)


async def next_presence(client, user_id, timeout=3) -> dict:
    """The next presence of `user_id` the client is told of (skipping others')."""
    while True:
        frame = await client.receive_type("presence", timeout)
        for person in frame["users"]:
            if person["id"] == user_id:
                return person


async def frames_within(client, seconds) -> list[dict]:
    frames = []
    while not await client.nothing(seconds):
        frames.append(await client.receive())
    return frames


async def test_room_mates_see_online_idle_and_offline_with_last_seen(sockets, presence_store):
    alice, bob = await users(2)
    await room("direct", alice, bob)
    bob_socket, _ = await sockets(bob)
    alice_socket, _ = await sockets(alice)
    assert await next_presence(bob_socket, alice.id) == {
        "id": alice.id,
        "status": "online",
        "last_seen": None,
    }
    await alice_socket.send(type="activity", state="idle")
    assert (await next_presence(bob_socket, alice.id))["status"] == "idle"
    await alice_socket.send(type="activity", state="active")
    assert (await next_presence(bob_socket, alice.id))["status"] == "online"
    await alice_socket.close()
    gone = await next_presence(bob_socket, alice.id)
    assert gone["status"] == "offline" and gone["last_seen"]
    await bob_socket.send(type="presence", users=[alice.id, bob.id])
    answer = await bob_socket.receive_type("presence")
    assert answer["users"] == [gone, {"id": bob.id, "status": "online", "last_seen": None}]


async def test_idle_only_when_every_socket_of_the_person_is_idle(sockets, presence_store):
    alice, bob = await users(2)
    await room("direct", alice, bob)
    bob_socket, _ = await sockets(bob)
    first, _ = await sockets(alice)
    second, _ = await sockets(alice)
    assert (await next_presence(bob_socket, alice.id))["status"] == "online"  # told once
    await first.send(type="activity", state="idle")
    await asyncio.sleep(0.3)
    await bob_socket.send(type="presence", users=[alice.id])
    assert (await next_presence(bob_socket, alice.id))["status"] == "online"
    await second.send(type="activity", state="idle")
    assert (await next_presence(bob_socket, alice.id))["status"] == "idle"
    await second.close()  # the one left is idle: still idle, no change told
    await bob_socket.send(type="presence", users=[alice.id])
    assert (await next_presence(bob_socket, alice.id))["status"] == "idle"


async def test_an_outsider_learns_no_presence_no_receipt_no_typing_and_no_card(sockets):
    alice, bob, outsider = await users(3)
    direct = await room("direct", alice, bob)
    private = await room("private", alice, bob)
    public = await room("public", alice, bob)
    spy, _ = await sockets(outsider)
    bob_socket, _ = await sockets(bob)
    alice_socket, _ = await sockets(alice)
    await alice_socket.send(type="activity", state="idle")
    for target in (direct, private, public):
        await alice_socket.send(type="typing", room=target.id)
        await sync_to_async(services.message_post)(
            author=bob, room_id=target.id, body="hi", client_id=uuid.uuid4()
        )
        await sync_to_async(services.room_mark_read)(user=alice, room_id=target.id, seq=1)
    await bob_socket.receive_type("receipt")  # the room-mate is told
    assert await frames_within(spy, 0.5) == []

    await spy.send(type="presence", users=[alice.id, bob.id])
    assert await spy.receive() == {"type": "presence", "users": []}
    await spy.send(type="card", user=alice.id)
    refused = await spy.receive()
    await spy.send(type="card", user=2_000_000_000)
    assert (
        refused
        == await spy.receive()
        == {
            "type": "error",
            "code": "not_found",
            "detail": "No such person.",
        }
    )
    for target in (direct, private, public):
        await spy.send(type="receipts", room=target.id)
        assert (await spy.receive())["code"] == "not_found"
        await spy.send(type="typing", room=target.id)
        assert (await spy.receive())["code"] == "not_found"


async def test_a_person_who_hides_presence_reads_as_offline_never_seen(sockets, presence_store):
    alice, bob = await users(2)
    await sync_to_async(User.objects.filter(id=alice.id).update)(show_presence=False)
    await room("direct", alice, bob)
    bob_socket, _ = await sockets(bob)
    alice_socket, _ = await sockets(alice)
    await alice_socket.send(type="activity", state="idle")
    told = [f for f in await frames_within(bob_socket, 0.5) if f["type"] == "presence"]
    assert alice.id not in [person["id"] for frame in told for person in frame["users"]]
    await bob_socket.send(type="presence", users=[alice.id])
    hidden = {"id": alice.id, "status": "offline", "last_seen": None}
    assert (await bob_socket.receive_type("presence"))["users"] == [hidden]
    await bob_socket.send(type="card", user=alice.id)
    assert (await bob_socket.receive_type("card"))["user"]["presence"] == hidden

    fresh = await sync_to_async(User.objects.get)(id=alice.id)
    await sync_to_async(account_services.presence_settings_update)(
        user=fresh, show_presence=True, send_read_receipts=True, time_zone=""
    )
    assert (await next_presence(bob_socket, alice.id))["status"] == "idle"


async def test_presence_goes_live_only_to_small_rooms_and_is_asked_for_in_large_ones(
    sockets, presence_store, settings
):
    settings.CHAT_PRESENCE_ROOM_MAX = 2
    alice, bob, carol = await users(3)
    big = await room("public", alice, bob, carol)
    bob_socket, _ = await sockets(bob)
    await sockets(alice)
    told = [f for f in await frames_within(bob_socket, 0.5) if f["type"] == "presence"]
    assert told == []
    assert await sync_to_async(queries.presence_audience)(user_id=alice.id) == (0, 0)
    await bob_socket.send(type="presence", users=[alice.id, carol.id])
    assert [p["status"] for p in (await bob_socket.receive_type("presence"))["users"]] == [
        "online",
        "offline",
    ]
    await room("direct", alice, bob)
    assert await sync_to_async(queries.presence_audience)(user_id=alice.id) == (1, 2)
    assert big.id not in await sync_to_async(queries.presence_rooms)(user_id=alice.id)


async def test_a_dead_process_users_go_offline_when_their_entries_expire(
    sockets, presence_store, settings
):
    """Alice's only sockets were in a process that died: nobody closes them, their entries
    expire, and a live process's sweep tells her room-mates she is offline, last seen when her
    entries were last renewed."""
    settings.CHAT_SOCKET_TTL = 1
    settings.CHAT_REVALIDATE_SECONDS = 0.3
    alice, bob = await users(2)
    await room("direct", alice, bob)
    bob_socket, _ = await sockets(bob)
    opened = sync_to_async(services.presence_socket_open)
    assert await opened(user=alice, socket_id="dead-process") == (True, "online")
    await sync_to_async(services.presence_tell)(user=alice, status="online")
    assert (await next_presence(bob_socket, alice.id))["status"] == "online"
    gone = await next_presence(bob_socket, alice.id, timeout=5)
    assert gone["status"] == "offline" and gone["last_seen"]
    await bob_socket.send(type="presence", users=[bob.id])
    assert (await next_presence(bob_socket, bob.id))["status"] == "online"  # renewed, not reaped


async def test_receipts_in_small_rooms_live_and_on_opening(sockets, presence_store):
    alice, bob, carol = await users(3)
    group = await room("private", alice, bob, carol)
    for n in range(3):
        await sync_to_async(services.message_post)(
            author=alice, room_id=group.id, body=f"m{n}", client_id=uuid.uuid4()
        )
    alice_socket, _ = await sockets(alice)
    bob_socket, _ = await sockets(bob)
    await bob_socket.send(type="read", room=group.id, seq=2)
    assert await alice_socket.receive_type("receipt") == {
        "type": "receipt",
        "room": group.id,
        "user": bob.id,
        "seq": 2,
    }
    await bob_socket.send(type="read", room=group.id, seq=1)  # never back: nothing told
    await sync_to_async(services.room_mark_read)(user=carol, room_id=group.id, seq=3)
    assert (await alice_socket.receive_type("receipt"))["user"] == carol.id
    await alice_socket.send(type="receipts", room=group.id)
    assert await alice_socket.receive_type("receipts") == {
        "type": "receipts",
        "room": group.id,
        "shown": True,
        "receipts": [{"user": bob.id, "seq": 2}, {"user": carol.id, "seq": 3}],
    }


async def test_who_turns_receipts_off_sends_none_and_sees_none(sockets):
    alice, bob, carol = await users(3)
    group = await room("private", alice, bob, carol)
    await sync_to_async(services.message_post)(
        author=alice, room_id=group.id, body="hello", client_id=uuid.uuid4()
    )
    alice_socket, _ = await sockets(alice)
    bob_socket, _ = await sockets(bob)
    fresh = await sync_to_async(User.objects.get)(id=bob.id)
    await sync_to_async(account_services.presence_settings_update)(
        user=fresh, show_presence=True, send_read_receipts=False, time_zone=""
    )
    await asyncio.sleep(0.3)  # bob's socket hears of his new setting
    await sync_to_async(services.room_mark_read)(user=fresh, room_id=group.id, seq=1)
    await sync_to_async(services.room_mark_read)(user=carol, room_id=group.id, seq=1)
    receipt = await alice_socket.receive_type("receipt")
    assert receipt["user"] == carol.id  # bob's own read went out to nobody
    assert [f for f in await frames_within(bob_socket, 0.4) if f["type"] == "receipt"] == []
    await bob_socket.send(type="receipts", room=group.id)
    assert (await bob_socket.receive_type("receipts"))["receipts"] == []
    await alice_socket.send(type="receipts", room=group.id)
    assert (await alice_socket.receive_type("receipts"))["receipts"] == [
        {"user": carol.id, "seq": 1}
    ]


async def test_rooms_over_the_receipt_size_show_none(sockets, settings):
    settings.CHAT_RECEIPTS_MAX_MEMBERS = 2
    alice, bob, carol = await users(3)
    group = await room("public", alice, bob, carol)
    direct = await room("direct", alice, bob)
    for target in (group, direct):
        await sync_to_async(services.message_post)(
            author=alice, room_id=target.id, body="hello", client_id=uuid.uuid4()
        )
    alice_socket, _ = await sockets(alice)
    await sync_to_async(services.room_mark_read)(user=bob, room_id=group.id, seq=1)
    await sync_to_async(services.room_mark_read)(user=bob, room_id=direct.id, seq=1)
    assert (await alice_socket.receive_type("receipt"))["room"] == direct.id
    await alice_socket.send(type="receipts", room=group.id)
    assert await alice_socket.receive_type("receipts") == {
        "type": "receipts",
        "room": group.id,
        "shown": False,
        "receipts": [],
    }


async def test_several_people_typing_are_each_told_with_their_name(sockets):
    alice, bob, carol = await users(3)
    group = await room("private", alice, bob, carol)
    alice_socket, _ = await sockets(alice)
    bob_socket, _ = await sockets(bob)
    carol_socket, _ = await sockets(carol)
    await alice_socket.send(type="typing", room=group.id)
    await bob_socket.send(type="typing", room=group.id)
    typists = {}
    for _ in range(2):
        frame = await carol_socket.receive_type("typing")
        typists[frame["user"]] = frame["display_name"]
    assert typists == {alice.id: alice.display_name, bob.id: bob.display_name}
    # Right after sending, typing again is told again (a message restarts the interval).
    await alice_socket.send(type="send", room=group.id, body="done", client_id=new_client_id())
    await alice_socket.send(type="typing", room=group.id)
    assert (await bob_socket.receive_type("typing"))["user"] == alice.id


async def test_typing_is_passed_on_once_per_interval(sockets):
    alice, bob = await users(2)
    direct = await room("direct", alice, bob)
    alice_socket, _ = await sockets(alice)
    bob_socket, _ = await sockets(bob)
    for _ in range(3):  # keys pressed quickly, or a client that sends on every keystroke
        await alice_socket.send(type="typing", room=direct.id)
    assert (await bob_socket.receive_type("typing"))["user"] == alice.id
    await alice_socket.send(type="ping")
    assert (await alice_socket.receive_type("pong"))["type"] == "pong"  # the three were handled
    assert await bob_socket.nothing()


async def test_typing_is_not_passed_on_in_rooms_past_the_typing_bound(sockets, settings):
    settings.CHAT_TYPING_ROOM_MAX = 2
    alice, bob, carol = await users(3)
    crowd = await room("private", alice, bob, carol)
    pair = await room("private", alice, bob)
    alice_socket, _ = await sockets(alice)
    bob_socket, _ = await sockets(bob)
    await alice_socket.send(type="typing", room=crowd.id)
    await alice_socket.send(type="typing", room=pair.id)
    assert (await bob_socket.receive_type("typing"))["room"] == pair.id
    assert await bob_socket.nothing()


async def test_a_card_shows_a_room_mate_with_local_time_and_the_direct_chat(sockets):
    alice, bob = await users(2)
    await room("public", alice, bob)
    alice_socket, _ = await sockets(alice)
    await alice_socket.send(type="activity", state="active", time_zone="Not/AZone")
    assert (await alice_socket.receive_type("error"))["code"] == "bad_request"
    await alice_socket.send(type="activity", state="active", time_zone="Asia/Kolkata")
    bob_socket, _ = await sockets(bob)
    await bob_socket.send(type="card", user=alice.id)
    card = (await bob_socket.receive_type("card"))["user"]
    assert card["username"] == alice.username
    assert (card["first_name"], card["last_name"]) == (alice.first_name, alice.last_name)
    assert card["presence"]["status"] == "online"
    assert card["time_zone"] == "Asia/Kolkata" and card["local_time"].endswith("+05:30")
    assert card["direct_url"] == f"/chat/dm/{alice.username}/"
    assert card["avatar_url"]


async def test_a_time_zone_chosen_on_the_dashboard_wins_over_the_one_the_browser_reports(sockets):
    alice, bob = await users(2)
    await room("public", alice, bob)
    await sync_to_async(account_services.presence_settings_update)(
        user=alice, show_presence=True, send_read_receipts=True, time_zone="Europe/Lisbon"
    )
    alice_socket, _ = await sockets(alice)
    await alice_socket.send(type="activity", state="active", time_zone="Asia/Kolkata")
    bob_socket, _ = await sockets(bob)
    await bob_socket.send(type="card", user=alice.id)
    assert (await bob_socket.receive_type("card"))["user"]["time_zone"] == "Europe/Lisbon"
    # Back to "not set": the zone the browser reported shows again.
    await sync_to_async(account_services.presence_settings_update)(
        user=alice, show_presence=True, send_read_receipts=True, time_zone=""
    )
    await bob_socket.send(type="card", user=alice.id)
    assert (await bob_socket.receive_type("card"))["user"]["time_zone"] == "Asia/Kolkata"


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "activity", "state": "asleep"},
        {"type": "activity"},
        {"type": "activity", "state": "idle", "time_zone": 7},
        {"type": "presence", "users": []},
        {"type": "presence", "users": "1"},
        {"type": "presence", "users": [0]},
        {"type": "presence", "users": list(range(1, 102))},
        {"type": "card", "user": "1"},
        {"type": "receipts"},
    ],
)
async def test_malformed_presence_frames_are_bad_requests(sockets, frame):
    (alice,) = await users(1)
    client, _ = await sockets(alice)
    await client.send(**frame)
    assert (await client.receive_type("error"))["code"] == "bad_request"


async def test_a_removed_member_stops_getting_presence_and_receipts(sockets):
    alice, bob, carol = await users(3)
    group = await room("private", alice, bob, carol)
    carol_socket, _ = await sockets(carol)
    await sync_to_async(services.member_remove)(actor=alice, room_id=group.id, user_id=carol.id)
    await carol_socket.receive_type("room.removed")
    await sockets(bob)
    await sync_to_async(services.message_post)(
        author=alice, room_id=group.id, body="after", client_id=uuid.uuid4()
    )
    await sync_to_async(services.room_mark_read)(user=bob, room_id=group.id, seq=1)
    leaked = [
        f for f in await frames_within(carol_socket, 0.5) if f["type"] in {"presence", "receipt"}
    ]
    assert leaked == []
    await carol_socket.send(type="card", user=bob.id)
    assert (await carol_socket.receive())["code"] == "not_found"
    assert not await sync_to_async(Membership.objects.filter(user=carol).exists)()


def test_telling_a_change_takes_a_fixed_number_of_queries_however_many_rooms(
    django_assert_max_num_queries,
):
    alice, *others = (UserFactory() for _ in range(6))
    for other in others:
        make_room("direct", alice, other)
    make_room("private", alice, *others)
    assert presence.socket_open(user_id=alice.id, socket_id="only-socket", hidden=False)
    with django_assert_max_num_queries(2):  # the person, the rooms to tell
        assert services.presence_refresh(user_id=alice.id) == "online"
    presence.socket_close(user_id=alice.id, socket_id="only-socket")
    with django_assert_max_num_queries(3):  # and when they were last seen
        assert services.presence_refresh(user_id=alice.id) == "offline"
    assert User.objects.get(id=alice.id).last_seen is not None
