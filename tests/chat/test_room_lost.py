"""A former member opening a private room they lost is told so; nobody else learns anything."""

import pytest
from django.urls import reverse

from chat import services
from chat.models import Room
from tests.factories import UserFactory, make_room, new_client_id

pytestmark = pytest.mark.django_db

LOST = "You no longer have access to this room"


def room_page(client, user, slug):
    client.force_login(user)
    return client.get(reverse("chat:room", args=[slug]))


@pytest.fixture
def plans():
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob, name="Plans")
    services.message_post(
        author=alice, room_id=room.id, body="the secret", client_id=new_client_id()
    )
    return room, alice, bob


def test_a_removed_member_is_told_they_no_longer_have_access(client, plans):
    room, alice, bob = plans
    services.member_remove(actor=alice, room_id=room.id, user_id=bob.id)

    response = room_page(client, bob, room.slug)

    body = response.content.decode()
    assert response.status_code == 403
    assert LOST in body
    assert "The room's owner removed you from Plans." in body
    assert "the secret" not in body
    assert f'href="{reverse("chat:lobby")}"' in body


def test_a_member_who_left_is_told_they_left(client, plans):
    room, _, bob = plans
    services.room_leave(user=bob, room_id=room.id)

    response = room_page(client, bob, room.slug)

    assert response.status_code == 403
    assert "You left Plans." in response.content.decode()


def test_a_member_invited_back_reads_the_room_again(client, plans):
    room, alice, bob = plans
    services.member_remove(actor=alice, room_id=room.id, user_id=bob.id)
    services.member_invite(actor=alice, room_id=room.id, username=bob.username)

    response = room_page(client, bob, room.slug)

    assert response.status_code == 200
    assert LOST not in response.content.decode()


def test_an_outsider_gets_the_same_404_as_for_a_room_that_is_not_there(client, plans):
    room, alice, bob = plans
    services.member_remove(actor=alice, room_id=room.id, user_id=bob.id)
    carol = UserFactory()
    missing = f"plans-{'0' * 20}"

    existing = room_page(client, carol, room.slug)
    absent = room_page(client, carol, missing)

    assert existing.status_code == absent.status_code == 404
    assert LOST not in existing.content.decode()
    assert existing.content.decode().replace(room.slug, "X") == absent.content.decode().replace(
        missing, "X"
    )


def test_a_room_deleted_after_the_last_member_left_is_simply_not_found(client):
    alice = UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, name="Alone")
    services.room_leave(user=alice, room_id=room.id)

    response = room_page(client, alice, room.slug)

    assert response.status_code == 404
    assert LOST not in response.content.decode()


def test_leaving_a_public_room_leaves_its_preview_not_a_lost_page(client):
    alice = UserFactory()
    room = make_room(Room.Kind.PUBLIC, alice, UserFactory(), name="Open")
    services.room_leave(user=alice, room_id=room.id)

    response = room_page(client, alice, room.slug)

    assert response.status_code == 200
    assert LOST not in response.content.decode()
