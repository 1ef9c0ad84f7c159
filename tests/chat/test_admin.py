"""Staff manage public rooms in the Django admin; other rooms stay closed to them there."""

import pytest

from chat.models import Membership, Room
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
    response = admin_client.post(f"/admin/chat/room/{public.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Room.objects.filter(id=public.id).exists()
    assert (
        admin_client.post(f"/admin/chat/room/{private.id}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert Room.objects.filter(id=private.id).exists()


def test_rooms_cannot_be_edited_in_the_admin(admin_client):
    room = make_room(Room.Kind.PRIVATE, UserFactory(), name="Secret")
    admin_client.post(f"/admin/chat/room/{room.id}/change/", {"name": "Renamed"})
    room.refresh_from_db()
    assert room.name == "Secret"


def test_non_staff_cannot_reach_the_admin(client):
    client.force_login(UserFactory())
    response = client.get("/admin/chat/room/")
    assert response.status_code == 302 and "/admin/login/" in response.url
