"""What an open chat page does when its credentials change in another tab."""

import pytest
from playwright.sync_api import expect

from chat.models import Room
from tests.e2e.conftest import user_who_logs_in
from tests.e2e.pages import expect_message, open_chat, send_with_enter
from tests.factories import PASSWORD, UserFactory, make_room

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_password_change_keeps_this_browser_chatting_and_a_logout_stops_it(people):
    alice = user_who_logs_in("alice", "Alice", "Archer")
    bob = UserFactory(username="bob")
    make_room(Room.Kind.DIRECT, alice, bob)
    chat = people.page_for(alice)
    open_chat(chat, "/chat/dm/bob/")
    bob_page = people.page_for(bob)
    open_chat(bob_page, "/chat/dm/alice/")

    # Another tab of the same browser changes the password: every socket of Alice's is closed,
    # and this tab's, whose session stays valid, reconnects by itself.
    settings_tab = chat.context.new_page()
    settings_tab.goto("/accounts/password/change/")
    settings_tab.get_by_label("Old password").fill(PASSWORD)
    settings_tab.get_by_label("New password", exact=True).fill("a-fresh-passphrase-42")
    settings_tab.get_by_label("New password confirmation").fill("a-fresh-passphrase-42")
    settings_tab.get_by_role("button", name="Change password").click()
    expect(settings_tab.get_by_role("heading", name="Password changed")).to_be_visible()
    status = chat.get_by_role("status").filter(has_text="Connected")
    expect(status).to_be_visible()
    send_with_enter(bob_page, "Still there?")
    expect_message(chat, "Still there?")

    # Logging out in the other tab ends this tab's stream for good.
    settings_tab.get_by_role("button", name="Log out").click()
    expect(chat.get_by_role("status").filter(has_text="Signed out")).to_be_visible()
    send_with_enter(bob_page, "Hello?")
    expect_message(bob_page, "Hello?")
    chat.wait_for_timeout(1000)
    expect(chat.get_by_text("Hello?")).to_have_count(0)
