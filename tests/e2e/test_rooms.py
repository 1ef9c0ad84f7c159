"""Public and private rooms with several people at once."""

import re

import pytest
from playwright.sync_api import expect

from chat.models import Room
from tests.e2e.pages import (
    ReceivedFrames,
    bodies,
    expect_all_sent,
    expect_message,
    messages,
    send_with_button,
    send_with_enter,
    wait_connected,
)
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_three_people_in_general_each_see_every_message_once_in_the_same_order(people):
    Room.objects.create(kind=Room.Kind.PUBLIC, name="General", slug="general")
    names = ["alice", "bob", "carol"]
    pages = {name: people.page_for(UserFactory(username=name)) for name in names}
    for page in pages.values():
        page.goto("/chat/r/general/")
        expect(page.get_by_role("heading", name="General")).to_be_visible()
        # Reading a public room joins nobody: each person joins with the button.
        expect(page.get_by_label("Message", exact=True)).to_have_count(0)
        page.get_by_role("button", name="Join room").click()
        wait_connected(page)

    # Everyone types at once: three rounds, nobody waiting for the others.
    sent = []
    for round_number in range(1, 4):
        for name, page in pages.items():
            text = f"{name} says {round_number}"
            send_with_enter(page, text)
            sent.append(text)

    for page in pages.values():
        expect(messages(page)).to_have_count(len(sent))
        expect_all_sent(page)
    seen = {name: bodies(page) for name, page in pages.items()}
    assert sorted(seen["alice"]) == sorted(sent)
    assert seen["alice"] == seen["bob"] == seen["carol"]
    seqs = [
        int(s) for s in messages(pages["bob"]).evaluate_all("els => els.map(e => e.dataset.seq)")
    ]
    assert seqs == list(range(1, len(sent) + 1))

    pages["carol"].reload()
    wait_connected(pages["carol"])
    assert bodies(pages["carol"]) == seen["alice"]


def test_private_room_is_for_invited_people_and_a_removed_member_stops_receiving(people):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    carol = UserFactory(username="carol", first_name="Carol", last_name="Cole")

    bob_lobby = people.page_for(bob)
    bob_lobby.goto("/chat/")
    wait_connected(bob_lobby)

    alice_page = people.page_for(alice)
    alice_page.goto("/chat/")
    alice_page.get_by_label("Room name").fill("Book club")
    alice_page.get_by_role("button", name="Create room").click()
    expect(alice_page.get_by_role("heading", name="Book club")).to_be_visible()
    wait_connected(alice_page)
    room_path = re.sub(r"^https?://[^/]+", "", alice_page.url)
    alice_page.get_by_label("Invite by username").fill("bob")
    alice_page.get_by_role("button", name="Invite").click()
    expect(alice_page.get_by_text("bob was added to the room.")).to_be_visible()
    wait_connected(alice_page)

    # Bob's open lobby lists the room without a reload.
    bob_link = bob_lobby.get_by_role("link", name=re.compile("Book club"))
    expect(bob_link).to_be_visible()

    carol_lobby = people.page_for(carol)
    carol_lobby.goto("/chat/")
    wait_connected(carol_lobby)
    expect(carol_lobby.get_by_text("Book club")).to_have_count(0)
    assert carol_lobby.goto(room_path).status == 404

    bob_link.click()
    bob_lobby.wait_for_url(f"**{room_path}")  # the room page, before the reload below
    bob_page = bob_lobby
    bob_frames = ReceivedFrames(bob_page)
    bob_page.reload()  # from here on every frame Bob's page receives is recorded
    wait_connected(bob_page)
    send_with_enter(alice_page, "Welcome to the club, Bob")
    expect_message(bob_page, "Welcome to the club, Bob")
    send_with_button(bob_page, "Thanks!")
    expect_message(alice_page, "Thanks!")

    alice_page.get_by_role("button", name="Remove bob").click()
    expect(alice_page.get_by_text("The member was removed.")).to_be_visible()
    wait_connected(alice_page)

    notice = bob_page.get_by_role("alert")
    expect(notice).to_contain_text("You were removed from this room")
    expect(bob_page.get_by_label("Message", exact=True)).to_be_disabled()
    expect(bob_page.get_by_role("button", name="Send")).to_be_disabled()

    send_with_enter(alice_page, "Bob has left the building")
    expect_message(alice_page, "Bob has left the building")
    bob_page.wait_for_timeout(1000)  # what would have arrived has had time to arrive
    assert bodies(bob_page) == ["Welcome to the club, Bob", "Thanks!"]
    assert bob_frames.mentioning("Bob has left the building") == []
    # Opening it again, Bob is told he lost it (403), and sees none of its messages.
    assert bob_page.goto(room_path).status == 403
    expect(
        bob_page.get_by_role("heading", name="You no longer have access to this room")
    ).to_be_visible()
    expect(bob_page.get_by_text("Welcome to the club, Bob")).to_have_count(0)
