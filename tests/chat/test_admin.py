"""Staff manage public rooms in the Django admin; other rooms stay closed to them there."""

import uuid

import pytest

from chat.models import Membership, Message, Room
from tests.factories import UserFactory, make_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_staff_add_a_public_room_in_the_admin(admin_client):
    response = admin_client.post("/admin/chat/room/add/", {"name": "Town hall"})
    assert response.status_code == 302
    room = Room.objects.get(name="Town hall")
    assert (room.kind, room.slug) == (Room.Kind.PUBLIC, "town-hall")
    assert Membership.objects.filter(room=room, role=Membership.Role.OWNER).exists()


def test_staff_delete_public_rooms_but_not_private_or_direct_ones(admin_client):
    public = make_room(Room.Kind.PUBLIC, UserFactory())
    private = make_room(Room.Kind.PRIVATE, UserFactory())
    direct = make_room(Room.Kind.DIRECT, UserFactory(), UserFactory())
    response = admin_client.post(f"/admin/chat/room/{public.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Room.objects.filter(id=public.id).exists()
    for room in (private, direct):
        response = admin_client.post(f"/admin/chat/room/{room.id}/delete/", {"post": "yes"})
        assert response.status_code == 302 and response.url == "/admin/"
    admin_client.post(
        "/admin/chat/room/",
        {"action": "delete_public_rooms", "_selected_action": [private.id, direct.id]},
    )
    assert Room.objects.filter(id__in=[private.id, direct.id]).count() == 2


def test_admin_shows_no_private_or_direct_room_membership_or_message(admin_client):
    alice, bob = UserFactory(), UserFactory()
    public = make_room(Room.Kind.PUBLIC, alice, name="Town square")
    private = make_room(Room.Kind.PRIVATE, alice, bob, name="Alice and Bob plotting")
    direct = make_room(Room.Kind.DIRECT, alice, bob)
    Message.objects.create(
        room=private, author=bob, body="the secret recipe", seq=1, pos=1, client_id=uuid.uuid4()
    )

    changelist = admin_client.get("/admin/chat/room/").content.decode()
    assert public.name in changelist
    assert private.name not in changelist and private.slug not in changelist
    assert f"/admin/chat/room/{direct.id}/" not in changelist
    for room in (private, direct):
        for page in ("change", "history", "delete"):
            response = admin_client.get(f"/admin/chat/room/{room.id}/{page}/", follow=True)
            assert private.name not in response.content.decode()
            assert response.redirect_chain[-1][0] == "/admin/"
    searched = admin_client.get("/admin/chat/room/", {"q": "plotting"}).content.decode()
    assert private.name not in searched
    assert admin_client.get("/admin/chat/message/").status_code == 404
    assert admin_client.get("/admin/chat/membership/").status_code == 404
    index = admin_client.get("/admin/").content.decode()
    assert "/admin/chat/message/" not in index and "/admin/chat/membership/" not in index
    delete_bob = admin_client.get(f"/admin/accounts/user/{bob.id}/delete/").content.decode()
    assert bob.username in delete_bob
    assert f"{bob.id} in {private.id}" not in delete_bob and f"{private.id}#1" not in delete_bob


def test_rooms_cannot_be_edited_in_the_admin(admin_client):
    room = make_room(Room.Kind.PRIVATE, UserFactory(), name="Secret")
    admin_client.post(f"/admin/chat/room/{room.id}/change/", {"name": "Renamed"})
    room.refresh_from_db()
    assert room.name == "Secret"


def test_non_staff_cannot_reach_the_admin(client):
    client.force_login(UserFactory())
    response = client.get("/admin/chat/room/")
    assert response.status_code == 302 and "/admin/login/" in response.url
