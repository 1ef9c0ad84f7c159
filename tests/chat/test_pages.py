"""The lobby and chat pages: who sees what, escaping, and a constant number of queries."""

import importlib
import re

import pytest
from django.urls import reverse

from attachments.models import Attachment
from chat import services
from chat.errors import Forbidden
from chat.models import Membership, Room
from chat.queries import rooms_for_user
from tests.factories import UserFactory, make_room, new_client_id

pytestmark = pytest.mark.django_db


def post(author, room, body):
    message, _ = services.message_post(
        author=author, room_id=room.id, body=body, client_id=new_client_id()
    )
    return message


def test_lobby_lists_rooms_with_last_message_and_public_rooms_to_join(client):
    alice, bob = UserFactory(), UserFactory()
    dm = make_room(Room.Kind.DIRECT, alice, bob)
    post(bob, dm, "see you at noon")
    make_room(Room.Kind.PUBLIC, bob, name="Announcements")
    client.force_login(alice)
    page = client.get(reverse("chat:lobby")).content.decode()
    assert bob.display_name in page
    assert "see you at noon" in page
    assert "Announcements" in page


def test_root_sends_a_signed_in_user_to_the_lobby_and_others_to_log_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert client.get(response.url).status_code == 302  # the lobby needs a log-in
    client.force_login(UserFactory())
    assert client.get("/", follow=True).request["PATH_INFO"] == reverse("chat:lobby")


@pytest.mark.parametrize("rooms", [1, 12])
def test_lobby_runs_a_constant_number_of_queries(client, django_assert_max_num_queries, rooms):
    alice = UserFactory()
    for _ in range(rooms):
        other = UserFactory()
        post(other, make_room(Room.Kind.DIRECT, alice, other), "hi")
        post(alice, make_room(Room.Kind.PRIVATE, alice, other), "hello")
    client.force_login(alice)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("chat:lobby")).status_code == 200


@pytest.mark.parametrize("messages", [3, 60])
@pytest.mark.parametrize(("extras", "queries"), [(False, 7), (True, 9)])
def test_chat_page_runs_a_constant_number_of_queries(
    client, django_assert_num_queries, messages, extras, queries
):
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PUBLIC, alice, bob, name="Busy")
    make_room(Room.Kind.DIRECT, alice, UserFactory())
    for n in range(messages):
        message = post(bob if n % 2 else alice, room, f"message {n}")
        if extras:
            services.reaction_add(user=bob, room_id=room.id, message_id=message.id, emoji="👍")
            Attachment.objects.create(
                uploader=message.author,
                room=room,
                message=message,
                file=f"files/{n}.txt",
                original_name=f"{n}.txt",
                content_type="text/plain",
                size=1,
                kind=Attachment.Kind.FILE,
            )
    client.force_login(alice)
    # The session, the user, the room, the messages, their members with their count, the
    # sidebar's rooms and the public ones to join, whatever the number of messages; and one
    # query each for the reactions and the attachments when the page shows any.
    with django_assert_num_queries(queries):
        page = client.get(reverse("chat:room", args=[room.slug])).content.decode()
    assert f"message {messages - 1}<" in page
    assert (f"{messages - 1}.txt" in page) == extras


def test_chat_page_shows_the_latest_50_messages_escaped(client):
    alice, bob = UserFactory(), UserFactory()
    dm = make_room(Room.Kind.DIRECT, alice, bob)
    for n in range(55):
        post(alice, dm, f"note {n}")
    post(bob, dm, "<img src=x onerror=alert(1)>")
    client.force_login(alice)
    page = client.get(reverse("chat:direct", args=[bob.username])).content.decode()
    assert "note 5<" not in page and "note 6<" in page  # 56 messages: the first six are older
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img src=x" not in page
    assert "Load older messages" in page


def test_opening_a_direct_chat_creates_nothing_until_the_first_message_is_posted(client):
    alice, bob = UserFactory(), UserFactory()
    client.force_login(alice)
    url = reverse("chat:direct", args=[bob.username])
    page = client.get(url)
    assert page.status_code == 200
    assert "Start conversation" in page.content.decode()
    assert not Room.objects.filter(kind=Room.Kind.DIRECT).exists()

    form = {"body": "Hi Bob", "client_id": page.context["client_id"]}
    response = client.post(url, form)
    assert response.status_code == 302 and response.url == url
    client.post(url, form)  # a double submission stores the message once
    room = Room.objects.get(kind=Room.Kind.DIRECT)
    assert [m.body for m in room.messages.all()] == ["Hi Bob"]
    client.force_login(bob)
    page = client.get(reverse("chat:direct", args=[alice.username]))
    assert page.context["room"].id == room.id
    assert "Hi Bob" in page.content.decode()
    assert Room.objects.filter(kind=Room.Kind.DIRECT).count() == 1


def test_start_conversation_without_a_message_opens_an_empty_direct_chat(client):
    alice, bob = UserFactory(), UserFactory()
    client.force_login(alice)
    url = reverse("chat:direct", args=[bob.username])
    assert client.post(url, {"body": "  "}).status_code == 302
    room = Room.objects.get(kind=Room.Kind.DIRECT)
    assert not room.messages.exists()
    assert client.get(url).context["room"].id == room.id


def test_direct_room_uniqueness_is_enforced_by_the_database():
    from django.db import IntegrityError

    alice, bob = UserFactory(), UserFactory()
    make_room(Room.Kind.DIRECT, alice, bob)
    with pytest.raises(IntegrityError):
        make_room(Room.Kind.DIRECT, bob, alice)


def test_direct_chat_with_yourself_or_nobody_is_404(client):
    alice = UserFactory()
    client.force_login(alice)
    assert client.get(reverse("chat:direct", args=[alice.username])).status_code == 404
    assert client.get(reverse("chat:direct", args=["nobody-here"])).status_code == 404


def test_private_room_is_404_for_outsiders_and_staff(client):
    alice, carol = UserFactory(), UserFactory()
    staff = UserFactory(is_staff=True)
    room = make_room(Room.Kind.PRIVATE, alice, name="Secret plans")
    for outsider in (carol, staff):
        client.force_login(outsider)
        response = client.get(reverse("chat:room", args=[room.slug]))
        assert response.status_code == 404
        assert "Secret plans" not in client.get(reverse("chat:lobby")).content.decode()


def test_a_public_room_page_is_a_read_only_preview_until_join_is_posted(client):
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PUBLIC, alice, name="General")
    post(alice, room, "welcome, everyone")
    client.force_login(bob)
    url = reverse("chat:room", args=[room.slug])
    page = client.get(url)
    body = page.content.decode()
    assert page.status_code == 200
    assert "welcome, everyone" in body
    assert reverse("chat:room_join", args=[room.id]) in body
    assert "data-composer" not in body
    assert page.context["workspace"]["open"]["joined"] is False
    assert not Membership.objects.filter(room=room, user=bob).exists()

    response = client.post(reverse("chat:room_join", args=[room.id]))
    assert response.status_code == 302 and response.url == url
    assert Membership.objects.filter(room=room, user=bob).exists()
    assert "data-composer" in client.get(url).content.decode()


def test_opening_a_room_page_leaves_even_the_read_marker_to_the_socket(client):
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    post(alice, room, "unread until Bob's tab says it was shown")
    client.force_login(bob)
    assert client.get(reverse("chat:room", args=[room.slug])).status_code == 200
    assert room.memberships.get(user=bob).last_read_seq == 0


def test_a_cross_site_form_cannot_join_a_room_or_start_a_direct_chat():
    from django.test import Client

    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PUBLIC, alice, name="General")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(bob)
    evil = {"HTTP_ORIGIN": "https://evil.example", "HTTP_REFERER": "https://evil.example/"}
    assert browser.get(reverse("chat:room", args=[room.slug]), **evil).status_code == 200
    assert browser.get(reverse("chat:direct", args=[alice.username]), **evil).status_code == 200
    assert browser.post(reverse("chat:room_join", args=[room.id]), **evil).status_code == 403
    direct = reverse("chat:direct", args=[alice.username])
    assert browser.post(direct, {"body": "hi"}, **evil).status_code == 403
    assert not Membership.objects.filter(room=room, user=bob).exists()
    assert not Room.objects.filter(kind=Room.Kind.DIRECT).exists()


def test_private_room_slugs_are_unguessable_and_never_numbered():
    alice, bob = UserFactory(), UserFactory()
    slugs = [
        services.room_create_private(owner=owner, name="Alice secret").slug
        for owner in (alice, alice, bob)
    ]
    assert len(set(slugs)) == 3
    for slug in slugs:
        assert re.fullmatch(r"alice-secret-[0-9a-f]{20}", slug), slug
    assert services.room_create_private(owner=alice, name="¡!").slug.count("-") == 0


def test_an_outsider_gets_the_same_404_whether_a_private_room_exists_or_not(client):
    alice, carol = UserFactory(), UserFactory()
    room = services.room_create_private(owner=alice, name="Alice secret")
    client.force_login(carol)
    missing_slug = f"alice-secret-{'0' * 20}"
    missing_id = 2_000_000_000

    def answer(url, slug_or_id, method="get"):
        response = getattr(client, method)(url)
        return response.status_code, response.content.decode().replace(str(slug_or_id), "X")

    assert answer(reverse("chat:room", args=[room.slug]), room.slug) == answer(
        reverse("chat:room", args=[missing_slug]), missing_slug
    )
    for name, extra in [
        ("chat:room_join", []),
        ("chat:room_leave", []),
        ("chat:member_invite", []),
        ("chat:member_remove", [alice.id]),
    ]:
        existing = answer(reverse(name, args=[room.id, *extra]), room.id, "post")
        assert existing == answer(reverse(name, args=[missing_id, *extra]), missing_id, "post")
        assert existing[0] == 404
    assert list(room.memberships.values_list("user_id", flat=True)) == [alice.id]


def test_the_migration_gives_existing_private_rooms_unguessable_slugs():
    from django.apps import apps

    alice = UserFactory()
    old = make_room(Room.Kind.PRIVATE, alice, name="Alice secret")
    Room.objects.filter(id=old.id).update(slug="alice-secret-2")
    public = make_room(Room.Kind.PUBLIC, alice, name="General")
    migration = importlib.import_module("chat.migrations.0004_private_room_slugs")
    migration.private_slugs_unguessable(apps, None)
    old.refresh_from_db()
    assert re.fullmatch(r"alice-secret-[0-9a-f]{20}", old.slug)
    assert Room.objects.get(id=public.id).slug == public.slug


def test_owner_creates_invites_and_removes_in_a_private_room(client):
    alice, bob = UserFactory(), UserFactory()
    client.force_login(alice)
    response = client.post(reverse("chat:room_create"), {"name": "Book club"})
    room = Room.objects.get(name="Book club")
    assert response.url == reverse("chat:room", args=[room.slug])
    assert room.kind == Room.Kind.PRIVATE
    client.post(reverse("chat:member_invite", args=[room.id]), {"username": bob.username})
    assert Membership.objects.filter(room=room, user=bob).exists()
    client.post(reverse("chat:member_remove", args=[room.id, bob.id]))
    assert not Membership.objects.filter(room=room, user=bob).exists()


def test_a_member_cannot_invite_or_remove_in_someone_elses_private_room(client):
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    client.force_login(bob)
    client.post(reverse("chat:member_invite", args=[room.id]), {"username": carol.username})
    client.post(reverse("chat:member_remove", args=[room.id, alice.id]))
    assert set(room.memberships.values_list("user_id", flat=True)) == {alice.id, bob.id}


def test_non_staff_cannot_create_a_public_room(client):
    alice = UserFactory()
    client.force_login(alice)
    response = client.post(reverse("chat:staff_rooms"), {"name": "Mine now"})
    assert response.status_code == 302 and "/admin/login/" in response.url
    assert not Room.objects.filter(name="Mine now").exists()
    with pytest.raises(Forbidden):
        services.room_create_public(creator=alice, name="Mine now")


def test_staff_create_and_delete_public_rooms_on_the_staff_page(client):
    client.force_login(UserFactory(is_staff=True))
    client.post(reverse("chat:staff_rooms"), {"name": "Town hall"})
    room = Room.objects.get(name="Town hall", kind=Room.Kind.PUBLIC)
    client.post(reverse("chat:staff_room_delete", args=[room.id]))
    assert not Room.objects.filter(id=room.id).exists()


def test_leaving_a_private_room_hands_it_to_the_next_member_and_the_last_one_deletes_it():
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    services.room_leave(user=alice, room_id=room.id)
    assert room.memberships.get().role == Membership.Role.OWNER
    services.room_leave(user=bob, room_id=room.id)
    assert not Room.objects.filter(id=room.id).exists()


def test_user_search_finds_people_by_username_or_name(client):
    alice = UserFactory()
    UserFactory(username="zed", first_name="Zora", last_name="Quill")
    client.force_login(alice)
    for term in ("zed", "quill"):
        page = client.get(reverse("chat:lobby"), {"q": term}).content.decode()
        assert reverse("chat:direct", args=["zed"]) in page


def test_lobby_lists_active_chats_before_empty_ones():
    from chat.queries import rooms_for_user

    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    make_room(Room.Kind.DIRECT, alice, carol)
    active = make_room(Room.Kind.DIRECT, alice, bob)
    post(bob, active, "hello")
    assert rooms_for_user(user=alice)[0].id == active.id


def test_inviting_an_unknown_username_says_so_on_the_room_page(client):
    alice = UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice)
    client.force_login(alice)
    response = client.post(
        reverse("chat:member_invite", args=[room.id]),
        {"username": "nobody-by-that-name"},
        follow=True,
    )
    assert response.status_code == 200
    assert "No such user." in response.content.decode()
    assert room.memberships.count() == 1


@pytest.mark.parametrize("term", ["a\x00b", "\x00"])
def test_a_nul_byte_in_the_people_search_is_a_clear_400(client, term):
    client.force_login(UserFactory())
    response = client.get(reverse("chat:lobby"), {"q": term})
    assert response.status_code == 400
    assert "cannot contain" in response.content.decode()


def test_a_nul_byte_in_a_direct_chat_address_is_404(client):
    UserFactory(username="bob")
    client.force_login(UserFactory())
    assert client.get("/chat/dm/bob%00/").status_code == 404
    assert client.post("/chat/dm/bob%00/", {"body": "hi"}).status_code == 404


def test_unread_counts_only_others_messages_that_still_stand():
    alice, bob = UserFactory(), UserFactory()
    dm = make_room(Room.Kind.DIRECT, alice, bob)
    post(alice, dm, "my own message is never unread to me")
    post(bob, dm, "one")
    oops = post(bob, dm, "oops, wrong room")
    post(bob, dm, "three")
    services.room_mark_read(user=alice, room_id=dm.id, seq=2)  # read up to Bob's "one"
    assert rooms_for_user(user=alice)[0].unread == 2
    services.message_delete(actor=bob, room_id=dm.id, message_id=oops.id)
    assert rooms_for_user(user=alice)[0].unread == 1
    assert rooms_for_user(user=bob)[0].unread == 1  # Alice's message, Bob has read nothing
    [room] = rooms_for_user(user=alice)
    assert room.preview.body == "three"


def test_a_room_opened_at_a_message_shows_the_messages_around_it(client):
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PUBLIC, alice, bob, name="Long")
    for n in range(1, 121):
        post(bob, room, f"number {n}")
    client.force_login(alice)
    url = reverse("chat:room", args=[room.slug])
    opened = client.get(url, {"at": 30}).context["workspace"]["open"]
    shown = [message["seq"] for message in opened["messages"]]
    assert shown == list(range(5, 55))
    assert (opened["at"], opened["has_more"], opened["has_newer"]) == (30, True, True)
    for nonsense in ("abc", "0", "-3", "٣", str(2**64), "1e3"):
        opened = client.get(url, {"at": nonsense}).context["workspace"]["open"]
        assert opened["at"] is None
        assert [message["seq"] for message in opened["messages"]] == list(range(71, 121))


def test_every_chat_address_is_the_same_workspace_with_the_users_chats(client):
    alice, bob = UserFactory(), UserFactory()
    dm = make_room(Room.Kind.DIRECT, alice, bob)
    post(bob, dm, "hello from Bob")
    make_room(Room.Kind.PUBLIC, bob, name="Town hall")
    client.force_login(alice)
    for url in (reverse("chat:lobby"), reverse("chat:direct", args=[bob.username])):
        response = client.get(url)
        assert response.templates[0].name == "chat/workspace.html"
        data = response.context["workspace"]
        assert [(r["id"], r["unread"]) for r in data["rooms"]] == [(dm.id, 1)]
        assert data["rooms"][0]["preview"]["body"] == "hello from Bob"
        assert [r["name"] for r in data["public_rooms"]] == ["Town hall"]
        assert data["me"]["username"] == alice.username
    assert client.get(reverse("chat:lobby")).context["workspace"]["open"] is None
