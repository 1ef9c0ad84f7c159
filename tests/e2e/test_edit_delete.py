"""Editing and deleting a message, as two people see it."""

import re

import pytest
from playwright.sync_api import expect

from chat.models import Room
from tests.e2e.pages import expect_message, open_chat, send_with_enter, stored_message
from tests.factories import UserFactory, make_room

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_edit_and_a_delete_reach_the_other_person_live(people):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    make_room(Room.Kind.DIRECT, alice, bob)
    alice_page = people.page_for(alice)
    bob_page = people.page_for(bob)
    open_chat(alice_page, "/chat/dm/bob/")
    open_chat(bob_page, "/chat/dm/alice/")

    send_with_enter(alice_page, "Lunch at 12?")
    expect_message(bob_page, "Lunch at 12?")
    mine = stored_message(alice_page, "Lunch at 12?")
    mine.hover()
    mine.get_by_role("button", name="Edit message").click()
    editor = alice_page.get_by_label("Edit message", exact=True)
    editor.fill("Lunch at 12:30?")
    editor.press("Enter")
    expect_message(bob_page, "Lunch at 12:30?")
    expect(stored_message(bob_page, "Lunch at 12:30?").get_by_text("(edited)")).to_be_visible()
    # Bob may reply, react and open Alice's card (her name), but not change her message.
    lunch = stored_message(bob_page, "Lunch at 12:30?")
    expect(lunch.get_by_role("button", name=alice.display_name, exact=True)).to_have_count(1)
    others = lunch.get_by_role(
        "button", name=re.compile(r"^(Edit|Delete|Confirm deleting) message")
    )
    expect(others).to_have_count(0)

    edited = stored_message(alice_page, "Lunch at 12:30?")
    edited.hover()
    edited.get_by_role("button", name="Delete message").click()
    expect_message(bob_page, "Lunch at 12:30?")  # one click only asks again
    edited.get_by_role("button", name="Confirm deleting message").click()
    expect_message(bob_page, "This message was deleted.")
    expect(bob_page.get_by_text("Lunch at 12:30?")).to_have_count(0)
    bob_page.reload()
    expect_message(bob_page, "This message was deleted.")
    assert people.dialogs == []
