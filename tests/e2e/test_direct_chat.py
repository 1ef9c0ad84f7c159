"""Direct chats: two people talk live; a third person never sees their conversation."""

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE
from tests.e2e.pages import (
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


def user_who_logs_in(username: str, first_name: str, last_name: str):
    """A user whose password the production server can check (the tests' own hasher is MD5)."""
    user = UserFactory(username=username, first_name=first_name, last_name=last_name)
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    user.save(update_fields=["password"])
    return user


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
    open_chat(alice, "/chat/dm/bob/")
    expect(alice.get_by_role("heading", name="Bob Baker")).to_be_visible()

    # Bob reads on a phone.
    bob_page = people.page_for(bob, viewport=PHONE)
    open_chat(bob_page, "/chat/dm/alice/")
    expect(bob_page.get_by_role("heading", name="Alice Archer")).to_be_visible()

    send_with_enter(alice, "Hi Bob, are you there?")
    expect_message(bob_page, "Hi Bob, are you there?")
    expect(alice.get_by_label("Message")).to_have_value("")

    send_with_button(bob_page, "Yes! Hello Alice.")
    expect_message(alice, "Yes! Hello Alice.")
    expect_all_sent(alice)
    expect_all_sent(bob_page)

    conversation = ["Hi Bob, are you there?", "Yes! Hello Alice."]
    assert bodies(alice) == conversation
    assert bodies(bob_page) == conversation
    for page in (alice, bob_page):
        page.reload()
        wait_connected(page)
        assert bodies(page) == conversation
