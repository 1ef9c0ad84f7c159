"""Direct chats: two people talk live; a third person never sees their conversation."""

import pytest
from playwright.sync_api import expect

from chat.models import Membership, Room
from tests.e2e.conftest import PHONE, user_who_logs_in
from tests.e2e.pages import (
    ReceivedFrames,
    bodies,
    expect_all_sent,
    expect_message,
    open_chat,
    send_with_button,
    send_with_enter,
    wait_connected,
)
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your chats")).to_be_visible()


def test_direct_messages_arrive_live_both_ways_and_survive_a_reload(people):
    user_who_logs_in("alice", "Alice", "Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")

    alice = people.context().new_page()
    log_in(alice, "alice")
    alice.goto("/chat/dm/bob/")
    expect(alice.get_by_role("heading", name="Bob Baker")).to_be_visible()
    # Nobody has started this chat: Alice's first message does.
    alice.get_by_label("Message", exact=True).fill("Hi Bob, are you there?")
    alice.get_by_role("button", name="Start conversation").click()
    wait_connected(alice)
    expect_message(alice, "Hi Bob, are you there?")

    # Bob reads on a phone.
    bob_page = people.page_for(bob, viewport=PHONE)
    open_chat(bob_page, "/chat/dm/alice/")
    expect(bob_page.get_by_role("heading", name="Alice Archer")).to_be_visible()
    expect_message(bob_page, "Hi Bob, are you there?")
    # Opening the page marks nothing read; the page's socket reports what it showed (a second on).
    bob_page.wait_for_timeout(1500)
    assert Membership.objects.get(user=bob).last_read_seq == 1

    send_with_button(bob_page, "Yes! Hello Alice.")
    expect_message(alice, "Yes! Hello Alice.")
    send_with_enter(alice, "Talk soon.")
    expect_message(bob_page, "Talk soon.")
    expect(alice.get_by_label("Message", exact=True)).to_have_value("")
    expect_all_sent(alice)
    expect_all_sent(bob_page)

    conversation = ["Hi Bob, are you there?", "Yes! Hello Alice.", "Talk soon."]
    assert bodies(alice) == conversation
    assert bodies(bob_page) == conversation
    for page in (alice, bob_page):
        page.reload()
        wait_connected(page)
        assert bodies(page) == conversation


def test_a_third_person_never_sees_a_direct_chat_she_is_not_in(people):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    carol = UserFactory(username="carol", first_name="Carol", last_name="Cole")

    alice_page = people.page_for(alice)
    open_chat(alice_page, "/chat/dm/bob/")
    dm_url = alice_page.url
    room_id = alice_page.locator("[data-room-pane]").get_attribute("data-room-id")
    bob_page = people.page_for(bob)
    open_chat(bob_page, "/chat/dm/alice/")
    send_with_enter(alice_page, "secret plan for Bob only")
    expect_message(bob_page, "secret plan for Bob only")

    carol_lobby = people.page_for(carol)
    carol_lobby_frames = ReceivedFrames(carol_lobby)
    carol_lobby.goto("/chat/")
    wait_connected(carol_lobby)

    # Carol pastes the address from Alice's browser. A direct chat's address names the other
    # person, so it offers Carol her own chat with Bob (not started: opening it creates nothing),
    # never Alice's conversation.
    carol_page = people.page_for(carol)
    carol_frames = ReceivedFrames(carol_page)
    response = carol_page.goto(dm_url)
    assert response.status == 200
    expect(carol_page.get_by_role("heading", name="Bob Baker")).to_be_visible()
    expect(carol_page.get_by_text("No conversation with Bob Baker yet.")).to_be_visible()
    assert not Room.objects.filter(memberships__user=carol).exists()
    carol_page.get_by_role("button", name="Start conversation").click()
    wait_connected(carol_page)
    expect(carol_page.get_by_text("No messages yet. Say hello!")).to_be_visible()
    assert carol_page.locator("[data-room-pane]").get_attribute("data-room-id") != room_id

    # The conversation's own addresses answer 404 to her.
    response = carol_page.request.get(f"/api/rooms/{room_id}/messages/")
    assert response.status == 404
    assert carol_page.goto("/chat/dm/nobody-by-that-name/").status == 404
    carol_page.goto(dm_url)
    wait_connected(carol_page)

    send_with_button(bob_page, "reply meant for Alice only")
    expect_message(alice_page, "reply meant for Alice only")
    send_with_enter(alice_page, "one more secret")
    expect_message(bob_page, "one more secret")
    carol_lobby.wait_for_timeout(1000)  # what would have arrived has had time to arrive

    secrets = ["secret plan for Bob only", "reply meant for Alice only", "one more secret"]
    for page in (carol_page, carol_lobby):
        for secret in secrets:
            expect(page.get_by_text(secret)).to_have_count(0)
    assert bodies(carol_page) == []
    for frames in (carol_frames, carol_lobby_frames):
        assert frames.frames, "Carol's pages had a live connection"
        for secret in secrets:
            assert frames.mentioning(secret) == []
        assert frames.mentioning(f'"room": {room_id},') == []
