"""Older history on demand, and message text that must stay text."""

import re
import uuid

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chat.models import Message, Room
from tests.e2e.pages import (
    bodies,
    expect_message,
    messages,
    open_chat,
    send_with_enter,
    seqs,
    wait_connected,
)
from tests.factories import UserFactory, make_room

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_loading_older_messages_brings_back_every_page_in_order(people):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    room = make_room(Room.Kind.PUBLIC, alice, bob, name="History")
    Message.objects.bulk_create(
        Message(
            room=room,
            author=alice if seq % 2 else bob,
            seq=seq,
            pos=seq,
            body=f"message number {seq:03}",
            client_id=uuid.uuid4(),
        )
        for seq in range(1, 121)
    )
    Room.objects.filter(id=room.id).update(
        last_seq=120, last_pos=120, last_message_at=timezone.now()
    )

    page = people.page_for(bob)
    open_chat(page, f"/chat/r/{room.slug}/")
    assert seqs(page) == list(range(71, 121))

    older = page.get_by_role("button", name="Load older messages")
    older.click()
    expect(messages(page)).to_have_count(100)
    assert seqs(page) == list(range(21, 121))

    # Scrolling to the top asks for the next page by itself.
    page.get_by_role("log", name="Conversation").hover()
    for _ in range(20):
        if messages(page).count() == 120:
            break
        page.mouse.wheel(0, -5000)
        page.wait_for_timeout(150)
    expect(messages(page)).to_have_count(120)
    expect(older).to_be_hidden()
    assert seqs(page) == list(range(1, 121))
    assert bodies(page) == [f"message number {seq:03}" for seq in range(1, 121)]

    # Live messages still land at the bottom after the history was loaded.
    send_with_enter(page, "and a new one")
    expect_message(page, "and a new one")
    assert seqs(page) == list(range(1, 122))


def test_markup_in_a_message_is_shown_as_text_and_never_runs(people):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    payload = "<img src=x onerror=alert(1)>"

    bob_lobby = people.page_for(bob)
    alice_page = people.page_for(alice)
    open_chat(alice_page, "/chat/dm/bob/")
    bob_lobby.goto("/chat/")
    wait_connected(bob_lobby)
    bob_page = people.page_for(bob)
    open_chat(bob_page, "/chat/dm/alice/")

    send_with_enter(alice_page, payload)
    for page in (alice_page, bob_page):
        expect_message(page, payload)
    expect(bob_lobby.get_by_role("link", name=re.compile(re.escape(payload)))).to_be_visible()
    alice_page.wait_for_timeout(500)  # an injected image would have errored by now

    for page in (alice_page, bob_page, bob_lobby):
        page.reload()
        wait_connected(page)
        # Shown as text once in the list of chats (the preview), and once in an open chat.
        chats = page.get_by_role("navigation", name="Your chats")
        expect(chats.get_by_text(payload)).to_have_count(1)
        shown = 0 if page is bob_lobby else 1
        log = page.get_by_role("log", name="Conversation")
        expect(log.get_by_text(payload)).to_have_count(shown)
        expect(page.get_by_text(payload)).to_have_count(1 + shown)
        assert page.locator('img[src="x"]').count() == 0
    assert bodies(bob_page) == [payload]
    assert people.dialogs == []
    bob_page.evaluate("setTimeout(() => alert('the watch works'))")
    bob_page.wait_for_timeout(200)
    assert people.dialogs == ["the watch works"]
