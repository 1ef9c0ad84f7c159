"""Invitations to a private room: refused with a clear reason, never a false "was added"."""

import pytest
from django.urls import reverse

from chat import services
from chat.errors import BadRequest, Conflict, Forbidden, NotFound
from chat.models import Membership, Room, RoomEvent
from tests.factories import UserFactory, make_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def club():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    return make_room(Room.Kind.PRIVATE, alice, bob, name="Book club"), alice, bob


def invite(client, actor, room, username):
    client.force_login(actor)
    url = reverse("chat:member_invite", args=[room.id])
    return client.post(url, {"username": username}, follow=True).content.decode()


@pytest.mark.parametrize(
    ("username", "error", "said"),
    [
        ("alice", BadRequest, "You are already in this room: invite someone else."),
        ("ALICE", BadRequest, "You are already in this room: invite someone else."),
        ("bob", Conflict, "bob is already a member of this room."),
        ("nobody-by-that-name", NotFound, "No such user."),
    ],
)
def test_a_refused_invitation_says_why_and_changes_nothing(client, club, username, error, said):
    room, alice, _ = club
    events = RoomEvent.objects.count()
    with pytest.raises(error):
        services.member_invite(actor=alice, room_id=room.id, username=username)

    page = invite(client, alice, room, username)

    assert said in page
    assert "was added to the room" not in page
    assert room.memberships.count() == 2
    assert RoomEvent.objects.count() == events  # no "joined" event for anyone


def test_a_new_member_is_named_as_stored(client, club):
    room, alice, _ = club
    UserFactory(username="Carol")

    page = invite(client, alice, room, "carol")

    assert "Carol was added to the room." in page
    assert Membership.objects.filter(room=room, user__username="Carol").exists()


def test_only_the_owner_invites(client, club):
    room, _, bob = club
    carol = UserFactory()
    with pytest.raises(Forbidden):
        services.member_invite(actor=bob, room_id=room.id, username=carol.username)
    assert "Only the room&#x27;s owner may do that." in invite(client, bob, room, carol.username)
    assert not Membership.objects.filter(room=room, user=carol).exists()
