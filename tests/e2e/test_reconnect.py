"""A dropped connection: the page says so, comes back by itself and misses nothing."""

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import Message
from tests.conftest import in_a_thread
from tests.e2e.pages import (
    bodies,
    expect_all_sent,
    expect_message,
    open_chat,
    send_with_enter,
    seqs,
)
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MISSED = ["first while you were away", "second while you were away", "third while you were away"]


def test_page_reconnects_after_its_server_restarts_and_shows_what_it_missed(people, make_server):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    # Bob's browser talks to a second server process; both share the database and Redis, as
    # Parley's processes do when it is scaled out. That process is stopped and started again.
    bobs_server = make_server()

    alice_page = people.page_for(alice)
    open_chat(alice_page, "/chat/dm/bob/")
    bob_page = people.page_for(bob, base_url=bobs_server.url)
    open_chat(bob_page, "/chat/dm/alice/")
    send_with_enter(alice_page, "before the cut")
    expect_message(bob_page, "before the cut")
    bob_page.evaluate("window.sameDocument = true")

    bobs_server.stop()
    expect(bob_page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    for text in MISSED:
        send_with_enter(alice_page, text)
    expect_all_sent(alice_page)
    bob_page.wait_for_timeout(500)
    assert bodies(bob_page) == ["before the cut"]

    bobs_server.start()
    for text in MISSED:
        expect_message(bob_page, text, timeout=20_000)
    expect(bob_page.get_by_role("status").filter(has_text="Connected")).to_be_visible()
    assert bodies(bob_page) == ["before the cut", *MISSED]
    assert seqs(bob_page) == [1, 2, 3, 4]
    assert bob_page.evaluate("window.sameDocument") is True, "the page was reloaded"


def alice_and_bob_chatting(people):
    """Alice's and Bob's pages open on their direct chat; (alice, alice's page, bob's page)."""
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    alice_page = people.page_for(alice)
    open_chat(alice_page, "/chat/dm/bob/")
    bob_page = people.page_for(bob)
    open_chat(bob_page, "/chat/dm/alice/")
    return alice, alice_page, bob_page


def test_page_reconnects_after_the_browser_goes_offline(people):
    _, alice_page, bob_page = alice_and_bob_chatting(people)

    bob_page.context.set_offline(True)
    bob_page.evaluate("window.sameDocument = true")
    expect(bob_page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    for text in MISSED:
        send_with_enter(alice_page, text)
    expect_all_sent(alice_page)
    bob_page.wait_for_timeout(500)
    assert bodies(bob_page) == []
    bob_page.context.set_offline(False)
    for text in MISSED:
        expect_message(bob_page, text, timeout=20_000)
    assert bodies(bob_page) == MISSED
    assert bob_page.evaluate("window.sameDocument") is True, "the page was reloaded"


def test_edits_and_deletions_made_while_away_show_after_the_reconnect(people):
    alice, alice_page, bob_page = alice_and_bob_chatting(people)
    for text in ("keep me", "delete me"):
        send_with_enter(alice_page, text)
        expect_message(bob_page, text)

    bob_page.context.set_offline(True)
    expect(bob_page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    kept, gone = Message.objects.get(body="keep me"), Message.objects.get(body="delete me")

    def while_away():  # in a thread of its own: Playwright's event loop owns this one
        services.message_edit(editor=alice, room_id=kept.room_id, message_id=kept.id, body="kept!")
        services.message_delete(actor=alice, room_id=gone.room_id, message_id=gone.id)

    in_a_thread(while_away, timeout=30)
    bob_page.context.set_offline(False)

    expect_message(bob_page, "kept!", timeout=20_000)
    expect(bob_page.get_by_text("This message was deleted.")).to_be_visible()
    expect(bob_page.get_by_text("(edited)")).to_be_visible()
    assert bodies(bob_page) == ["kept!", "This message was deleted."]
