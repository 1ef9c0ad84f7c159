"""Message search: only the user's rooms, only live messages, text shown as text."""

import pytest
from django.urls import reverse

from chat import services
from chat.models import Room
from chat.queries import message_search
from tests.factories import UserFactory, make_room, new_client_id

pytestmark = pytest.mark.django_db


def post(author, room, body):
    message, _ = services.message_post(
        author=author, room_id=room.id, body=body, client_id=new_client_id()
    )
    return message


def test_search_finds_words_only_in_the_users_rooms():
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    ours = make_room(Room.Kind.DIRECT, alice, bob)
    theirs = make_room(Room.Kind.DIRECT, bob, carol)
    public_not_joined = make_room(Room.Kind.PUBLIC, carol)
    post(bob, ours, "The deploy is at noon")
    post(bob, theirs, "The deploy is secret")
    post(carol, public_not_joined, "deploy news for the public room")
    assert [m.body for m in message_search(user=alice, term="deploy")] == ["The deploy is at noon"]
    assert {m.body for m in message_search(user=carol, term="DEPLOY")} == {
        "The deploy is secret",
        "deploy news for the public room",
    }


def test_search_skips_deleted_messages_and_understands_phrases_and_exclusions():
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    gone = post(alice, room, "release notes draft")
    post(alice, room, "the release is tomorrow")
    post(bob, room, "notes about lunch")
    services.message_delete(actor=alice, room_id=room.id, message_id=gone.id)
    assert [m.body for m in message_search(user=bob, term="release")] == ["the release is tomorrow"]
    assert message_search(user=bob, term='"release notes"') == []
    assert [m.body for m in message_search(user=bob, term="notes -lunch")] == []
    assert message_search(user=bob, term="   ") == []


def test_search_page_escapes_and_links_each_result_to_its_room(client):
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PUBLIC, alice, bob, name="Ops")
    post(bob, room, "<b>bold</b> claim about uptime")
    client.force_login(alice)
    page = client.get(reverse("chat:search"), {"q": "uptime"}).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; claim about uptime" in page
    assert reverse("chat:room", args=[room.slug]) in page
    assert "1 message found" in page


def test_each_result_opens_its_room_at_the_message_and_says_its_time_for_the_reader(client):
    alice, bob = UserFactory(), UserFactory(username="bob")
    room = make_room(Room.Kind.PUBLIC, alice, bob, name="Ops")
    post(bob, room, "first")
    found = post(bob, room, "the uptime report")
    direct = make_room(Room.Kind.DIRECT, alice, bob)
    in_direct = post(bob, direct, "uptime in private")
    client.force_login(alice)

    page = client.get(reverse("chat:search"), {"q": "uptime"}).content.decode()

    assert f'href="{reverse("chat:room", args=[room.slug])}?at={found.seq}"' in page
    assert f'href="{reverse("chat:direct", args=["bob"])}?at={in_direct.seq}"' in page
    assert f'<time datetime="{found.created_at.isoformat()}" data-local-time>' in page
    assert '<script type="module" src="/static/js/search.js">' in page


@pytest.mark.parametrize("rooms", [1, 10])
def test_search_page_runs_a_constant_number_of_queries(
    client, django_assert_max_num_queries, rooms
):
    alice = UserFactory()
    for _ in range(rooms):
        other = UserFactory()
        post(other, make_room(Room.Kind.DIRECT, alice, other), "status update")
    client.force_login(alice)
    with django_assert_max_num_queries(7):
        response = client.get(reverse("chat:search"), {"q": "status"})
    assert response.content.decode().count('class="message"') == rooms


def test_search_needs_a_login(client):
    response = client.get(reverse("chat:search"), {"q": "x"})
    assert response.status_code == 302


@pytest.mark.parametrize("term", ["deploy\x00", "\x00", "a\x00b c"])
def test_a_nul_byte_in_the_search_is_a_clear_400_not_a_server_error(client, term):
    client.force_login(UserFactory())
    response = client.get(reverse("chat:search"), {"q": term})
    assert response.status_code == 400
    page = response.content.decode()
    assert "cannot contain" in page
    assert 'name="q"' in page
