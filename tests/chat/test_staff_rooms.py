"""Staff's public rooms: the page, the confirmation before deleting, unique names, and what
members' sockets are told when a room goes."""

import re

import pytest
from asgiref.sync import sync_to_async
from django.db import IntegrityError, connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from chat import services
from chat.errors import Conflict
from chat.models import Message, Room
from tests.factories import UserFactory, make_room, new_client_id


def post(author, room, body):
    return services.message_post(
        author=author, room_id=room.id, body=body, client_id=new_client_id()
    )


@pytest.fixture
def staff_client(client, db):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    client.staff = staff
    return client


def test_the_staff_page_lists_public_rooms_with_member_and_message_counts(staff_client):
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    general = make_room(Room.Kind.PUBLIC, alice, bob, carol, name="General")
    for body in ("one", "two", "three"):
        post(alice, general, body)
    services.message_delete(actor=alice, room_id=general.id, message_id=general.messages.first().id)
    make_room(Room.Kind.PRIVATE, alice, name="Secret plans")

    page = staff_client.get(reverse("chat:staff_rooms")).content.decode()

    row = re.sub(r"\s+", "", page[page.index("# General") :])
    row = row[: row.index("</tr>")]
    # Three members, and the two messages still standing.
    assert '<tdclass="number">3</td><tdclass="number">2</td>' in row
    assert "Secret plans" not in page
    assert f'href="{reverse("chat:staff_room_delete", args=[general.id])}"' in page


def test_delete_asks_first_naming_the_room_and_its_message_count(staff_client):
    alice = UserFactory()
    room = make_room(Room.Kind.PUBLIC, alice, name="General")
    for n in range(3):
        post(alice, room, f"message {n}")
    url = reverse("chat:staff_room_delete", args=[room.id])

    page = staff_client.get(url)

    assert page.status_code == 200
    assert "Delete General and its 3 messages?" in page.content.decode()
    assert Room.objects.filter(id=room.id).exists()  # a GET deletes nothing
    response = staff_client.post(url, follow=True)
    assert not Room.objects.filter(id=room.id).exists()
    assert "General was deleted." in response.content.decode()


def test_the_confirmation_groups_thousands(staff_client):
    alice = UserFactory()
    room = make_room(Room.Kind.PUBLIC, alice, name="Busy")
    Message.objects.bulk_create(  # stored directly: 1,234 posts through the service is slow
        Message(room=room, author=alice, seq=n, pos=n, body="x", client_id=new_client_id())
        for n in range(1, 1235)
    )

    page = staff_client.get(reverse("chat:staff_room_delete", args=[room.id])).content.decode()

    assert "Delete Busy and its 1,234 messages?" in page


def test_only_staff_reach_the_confirmation_and_private_rooms_are_not_there(client, db):
    alice = UserFactory()
    private = make_room(Room.Kind.PRIVATE, alice, name="Mine")
    public = make_room(Room.Kind.PUBLIC, alice, name="Ours")
    client.force_login(alice)
    response = client.post(reverse("chat:staff_room_delete", args=[public.id]))
    assert response.status_code == 302 and "/admin/login/" in response.url
    client.force_login(UserFactory(is_staff=True))
    for method in ("get", "post"):
        url = reverse("chat:staff_room_delete", args=[private.id])
        assert getattr(client, method)(url).status_code == 404
    assert Room.objects.filter(id__in=[private.id, public.id]).count() == 2


@pytest.mark.parametrize("name", ["General", "general", "  GENERAL  ", "General "])
def test_a_second_public_room_of_the_same_name_is_refused_with_a_clear_error(staff_client, name):
    services.room_create_public(creator=staff_client.staff, name="General")

    response = staff_client.post(reverse("chat:staff_rooms"), {"name": name})

    assert response.status_code == 400
    assert "A public room named" in response.content.decode()
    assert "already exists" in response.content.decode()
    assert Room.objects.filter(kind=Room.Kind.PUBLIC).count() == 1
    with pytest.raises(Conflict):
        services.room_create_public(creator=staff_client.staff, name=name)


def test_private_rooms_may_share_a_name_with_each_other_and_a_public_room(db):
    staff, alice = UserFactory(is_staff=True), UserFactory()
    services.room_create_public(creator=staff, name="General")
    services.room_create_private(owner=alice, name="General")
    services.room_create_private(owner=alice, name="general")
    assert Room.objects.filter(name__iexact="general").count() == 3


def test_the_database_refuses_a_duplicate_public_name_whatever_its_case(db):
    make_room(Room.Kind.PUBLIC, name="General")
    with pytest.raises(IntegrityError):
        make_room(Room.Kind.PUBLIC, name=" GENERAL ")


def test_the_admin_refuses_a_duplicate_public_name(admin_client):
    services.room_create_public(creator=UserFactory(is_staff=True), name="General")

    response = admin_client.post(reverse("admin:chat_room_add"), {"name": "general"})

    assert response.status_code == 200  # the form again, with the error
    assert "A public room named general already exists." in response.content.decode()
    assert Room.objects.filter(kind=Room.Kind.PUBLIC).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_renames_duplicate_public_rooms_before_it_makes_names_unique():
    executor = MigrationExecutor(connection)
    executor.migrate([("chat", "0005_event_stream")])
    old = MigrationExecutor(connection).loader.project_state([("chat", "0005_event_stream")]).apps
    OldRoom = old.get_model("chat", "Room")
    names = ["General", "general ", "Random", "GENERAL", "General (2)", "Private twin"]
    ids = [
        OldRoom.objects.create(kind="public", name=name, slug=f"old-{n}").id
        for n, name in enumerate(names[:-1])
    ]
    OldRoom.objects.create(kind="private", name="General", slug="old-private")
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        renamed = dict(Room.objects.filter(id__in=ids).values_list("id", "name"))
        assert [renamed[i] for i in ids] == [
            "General",
            "general (2)",
            "Random",
            "GENERAL (3)",
            "General (2) (2)",
        ]
        assert Room.objects.get(slug="old-private").name == "General"
    finally:
        Room.objects.all().delete()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_members_are_told_the_room_was_deleted(sockets):
    staff, alice = (
        await sync_to_async(UserFactory)(is_staff=True),
        await sync_to_async(UserFactory)(),
    )
    room = await sync_to_async(services.room_create_public)(creator=staff, name="Town square")
    await sync_to_async(services.room_join_public)(user=alice, room_id=room.id)
    client, _ = await sockets(alice)

    await sync_to_async(services.room_delete)(actor=staff, room_id=room.id)

    frame = await client.receive_type("room.removed")
    assert frame == {"type": "room.removed", "room": room.id, "reason": "deleted"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_a_removed_member_is_told_they_were_removed_and_a_leaver_that_they_left(sockets):
    alice, bob = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    room = await sync_to_async(make_room)(Room.Kind.PRIVATE, alice, bob)
    other = await sync_to_async(make_room)(Room.Kind.PUBLIC, alice, bob)
    bob_tab, _ = await sockets(bob)
    bob_other_tab, _ = await sockets(bob)

    await sync_to_async(services.member_remove)(actor=alice, room_id=room.id, user_id=bob.id)
    await sync_to_async(services.room_leave)(user=bob, room_id=other.id)

    for tab in (bob_tab, bob_other_tab):
        assert await tab.receive_type("room.removed") == {
            "type": "room.removed",
            "room": room.id,
            "reason": "removed",
        }
        assert await tab.receive_type("room.removed") == {
            "type": "room.removed",
            "room": other.id,
            "reason": "left",
        }


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_a_socket_that_missed_the_event_learns_the_reason_at_its_next_frame(
    sockets, monkeypatch
):
    from realtime import publisher

    alice, bob = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    removed_from = await sync_to_async(make_room)(Room.Kind.PRIVATE, alice, bob)
    deleted = await sync_to_async(make_room)(Room.Kind.PRIVATE, alice, bob)
    client, _ = await sockets(bob)

    async def lost(group, event, *, room_id=None):  # the channel layer loses every event
        return True

    monkeypatch.setattr(publisher, "publish", lost)
    await sync_to_async(services.member_remove)(
        actor=alice, room_id=removed_from.id, user_id=bob.id
    )
    await sync_to_async(services.room_delete)(actor=alice, room_id=deleted.id)
    assert await client.nothing()
    await client.send(type="ping")

    frames = [await client.receive_type("room.removed") for _ in range(2)]
    assert sorted((f["room"], f["reason"]) for f in frames) == sorted(
        [(removed_from.id, "removed"), (deleted.id, "deleted")]
    )
