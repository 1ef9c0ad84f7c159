"""Rich messages in Chromium, with two people at once: formatting, the @-mention autocomplete and
highlight, reactions with their picker, replies that jump to their original; live, and after a
reconnect."""

import re
import uuid

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from chat import services
from chat.models import Message, Room
from tests.conftest import in_a_thread
from tests.e2e.pages import expect_message, messages, open_chat, send_with_enter, stored_message
from tests.factories import UserFactory, make_room

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def in_thread(work):
    """Run ORM work that publishes in a thread of its own: Playwright's loop owns this one."""
    return in_a_thread(work, timeout=30)


def three_in_a_room(people, name="Plans"):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Andersen")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Brown")
    carol = UserFactory(username="carol", first_name="Carol", last_name="Clark")
    room = make_room(Room.Kind.PRIVATE, alice, bob, carol, name=name)
    alice_page, bob_page = people.page_for(alice), people.page_for(bob)
    for page in (alice_page, bob_page):
        open_chat(page, f"/chat/r/{room.slug}/")
    return room, alice_page, bob_page


def message_with(page: Page, text: str):
    return messages(page).filter(has_text=text)


def test_formatting_and_a_mention_chosen_from_the_autocomplete_reach_both(people):
    _, alice_page, bob_page = three_in_a_room(people)
    box = alice_page.get_by_role("textbox", name="Message")
    box.fill("**Ship it** `now`, ")
    box.press_sequentially("@b")
    listbox = alice_page.get_by_role("listbox", name="People to mention")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-controls", listbox.get_attribute("id"))
    expect(listbox.get_by_role("option")).to_have_count(1)
    bob_option = listbox.get_by_role("option", name="Bob Brown @bob")
    expect(bob_option).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", bob_option.get_attribute("id"))
    box.press("Enter")  # chooses Bob, does not send
    expect(box).to_have_value("**Ship it** `now`, @bob ")
    expect(listbox).to_be_hidden()
    box.press_sequentially("and @c")
    expect(listbox.get_by_role("option")).to_have_count(1)
    box.press("ArrowDown")
    box.press("Tab")
    box.press_sequentially("see https://example.com/x")
    box.press("Enter")

    text = "Ship it now, @bob and @carol see https://example.com/x"
    for page in (alice_page, bob_page):
        shown = message_with(page, "Ship it").and_(page.locator(".message:not(.pending)"))
        expect(shown).to_have_count(1)
        expect(shown.locator(".message-body")).to_have_text(text)
        expect(shown.locator("strong")).to_have_text("Ship it")
        expect(shown.locator("code")).to_have_text("now")
        link = shown.get_by_role("link", name="https://example.com/x")
        expect(link).to_have_attribute("href", "https://example.com/x")
        expect(link).to_have_attribute("target", "_blank")
        expect(link).to_have_attribute("rel", "noopener noreferrer nofollow ugc")
        expect(shown.locator(".mention")).to_have_count(2)
    # Bob is mentioned: his message stands out, and his name more than Carol's.
    bobs = message_with(bob_page, "Ship it")
    expect(bobs).to_have_class(re.compile(r"\bmentions-me\b"))
    expect(bobs.locator(".mention-me")).to_have_text("@bob")
    expect(message_with(alice_page, "Ship it")).not_to_have_class(re.compile(r"mentions-me"))
    expect(alice_page.locator(".mention-me")).to_have_count(0)


def test_reactions_with_the_picker_live_for_both_and_after_a_reconnect(people):
    _, alice_page, bob_page = three_in_a_room(people)
    send_with_enter(alice_page, "Lunch at noon?")
    for page in (alice_page, bob_page):
        expect_message(page, "Lunch at noon?")
    message_id = Message.objects.get(body="Lunch at noon?").id

    bob_page.get_by_role("button", name=f"Add a reaction to message {message_id}").click()
    picker = bob_page.get_by_role("dialog", name="Choose a reaction")
    expect(picker).to_be_visible()
    expect(picker.get_by_role("group", name="Most used").get_by_role("button")).to_have_count(6)
    picker.get_by_label("Search emoji").fill("thumbs up")
    picker.get_by_role("group", name="All emoji").get_by_role(
        "button", name=re.compile(r"^thumbs up\b")
    ).click()
    expect(picker).to_be_hidden()

    for page in (alice_page, bob_page):
        thumbs = message_with(page, "Lunch").get_by_role(
            "button", name=re.compile("^👍 1 reaction")
        )
        expect(thumbs).to_have_attribute("title", "Bob Brown")
        expect(thumbs).to_have_accessible_name(re.compile("from Bob Brown"))
    mine = message_with(bob_page, "Lunch").get_by_role("button", name=re.compile("^👍"))
    expect(mine).to_have_attribute("aria-pressed", "true")
    # Alice adds hers by clicking Bob's: one emoji, two people.
    alice_thumbs = message_with(alice_page, "Lunch").get_by_role("button", name=re.compile("^👍"))
    expect(alice_thumbs).to_have_attribute("aria-pressed", "false")
    alice_thumbs.click()
    for page in (alice_page, bob_page):
        both = message_with(page, "Lunch").get_by_role("button", name=re.compile("^👍 2 reactions"))
        expect(both).to_have_attribute("title", "Bob Brown, Alice Andersen")

    # Bob is away while Alice takes hers back and Carol reacts: he sees both on his return.
    bob_page.context.set_offline(True)
    expect(bob_page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    alice_page.get_by_role("button", name=re.compile("^👍 2 reactions")).click()
    expect(alice_page.get_by_role("button", name=re.compile("^👍 1 reaction"))).to_be_visible()
    carol = User.objects.get(username="carol")
    message = Message.objects.get(id=message_id)
    in_thread(
        lambda: services.reaction_add(
            user=carol, room_id=message.room_id, message_id=message_id, emoji="🎉"
        )
    )
    bob_page.context.set_offline(False)
    party = message_with(bob_page, "Lunch").get_by_role("button", name=re.compile("^🎉 1"))
    expect(party).to_have_attribute("title", "Carol Clark", timeout=20_000)
    thumbs = message_with(bob_page, "Lunch").get_by_role("button", name=re.compile("^👍"))
    expect(thumbs).to_have_accessible_name(re.compile("^👍 1 reaction from Bob Brown"))


def test_a_reply_quotes_its_original_jumps_to_it_through_older_history_and_follows_it(people):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Andersen")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Brown")
    room = make_room(Room.Kind.PRIVATE, alice, bob, name="Long")
    Message.objects.bulk_create(
        Message(
            room=room,
            author=alice,
            seq=seq,
            pos=seq,
            body=f"old message {seq:03}",
            body_html=f"<p>old message {seq:03}</p>",
            client_id=uuid.uuid4(),
        )
        for seq in range(1, 121)
    )
    Room.objects.filter(id=room.id).update(
        last_seq=120, last_pos=120, last_message_at=timezone.now()
    )
    alice_page, bob_page = people.page_for(alice), people.page_for(bob)
    for page in (alice_page, bob_page):
        open_chat(page, f"/chat/r/{room.slug}/")

    # Bob replies to the newest message from the page.
    newest = Message.objects.get(seq=120)
    bob_page.get_by_role("button", name=f"Reply to message {newest.id}").click()
    expect(bob_page.get_by_text("Replying to Alice Andersen: old message 120")).to_be_visible()
    send_with_enter(bob_page, "agreed")
    for page in (alice_page, bob_page):
        quote = stored_message(page, "agreed").get_by_role("button", name=re.compile("In reply"))
        expect(quote).to_have_text("Alice Andersen old message 120")
    expect(bob_page.get_by_text("Replying to")).to_be_hidden()

    # A reply to a message far back: its quote loads older history until the original shows.
    oldest = Message.objects.get(seq=3)
    in_thread(
        lambda: services.message_post(
            author=alice,
            room_id=room.id,
            body="about that",
            client_id=uuid.uuid4(),
            reply_to=oldest.id,
        )
    )
    for page in (alice_page, bob_page):
        quote = stored_message(page, "about that").get_by_role(
            "button", name="In reply to Alice Andersen: old message 003. Show the original"
        )
        expect(quote).to_be_visible()
        expect(stored_message(page, "old message 003")).to_have_count(0)
    # Alice follows it: the room opens around the original, which has the focus.
    stored_message(alice_page, "about that").locator(".reply-quote").click()
    original = messages(alice_page).and_(alice_page.locator(f'[data-seq="{oldest.seq}"]'))
    expect(original).to_be_in_viewport()
    expect(original).to_be_focused()
    expect(original).to_have_text(re.compile("old message 003"))

    # She deletes it there: Bob's quote says so at once, and hers once back at the latest.
    alice_page.get_by_role("button", name=f"Delete message {oldest.id}", exact=True).click()
    alice_page.get_by_role(
        "button", name=f"Confirm deleting message {oldest.id}", exact=True
    ).click()
    bobs_quote = stored_message(bob_page, "about that").locator(".reply-quote")
    expect(bobs_quote).to_have_text("Alice Andersen This message was deleted.")
    alice_page.get_by_role("button", name="Jump to latest").click()
    alices_quote = stored_message(alice_page, "about that").locator(".reply-quote")
    expect(alices_quote).to_have_text("Alice Andersen This message was deleted.")
    bobs_quote.click()
    expect(messages(bob_page).and_(bob_page.locator('[data-seq="3"]'))).to_be_focused()


def test_the_sidebar_counts_mentions_apart_live_and_after_a_reconnect(people):
    room, alice_page, bob_page = three_in_a_room(people)
    alice = User.objects.get(username="alice")
    bob = User.objects.get(username="bob")
    side = make_room(Room.Kind.PRIVATE, alice, bob, name="Side")
    alice_page.reload()
    open_chat(alice_page, f"/chat/r/{side.slug}/")
    bob_page.reload()
    open_chat(bob_page, f"/chat/r/{room.slug}/")
    side_item = bob_page.get_by_role("navigation", name="Your chats").get_by_role(
        "link", name=re.compile("^Side")
    )
    # A trailing space closes the autocomplete, so Enter sends rather than chooses.
    send_with_enter(alice_page, "hello @bob ")
    send_with_enter(alice_page, "just chatting")
    expect(side_item).to_contain_text("1 mention")
    expect(side_item).to_contain_text("2 unread")

    bob_page.context.set_offline(True)
    expect(bob_page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    send_with_enter(alice_page, "@bob again")  # the caret is past "again": no choice open
    expect(alice_page.locator(".message.pending")).to_have_count(0)
    bob_page.context.set_offline(False)
    expect(side_item).to_contain_text("2 mentions", timeout=20_000)
    # Reading the room clears them.
    side_item.click()
    expect(side_item).not_to_contain_text("mention")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_rich_messages_pass_axe_core_in_both_colour_schemes(people, scheme):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Andersen")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Brown")
    room = make_room(Room.Kind.PRIVATE, alice, bob, name="Rich")

    def seed():
        first = services.message_post(
            author=alice,
            room_id=room.id,
            body="**Plan** for @bob and @room:\n\n> quoted\n\n- `one`\n- [two](https://example.com)\n"
            "\n```\n  code block\n```",
            client_id=uuid.uuid4(),
        )[0]
        services.reaction_add(user=bob, room_id=room.id, message_id=first.id, emoji="👍")
        services.message_post(
            author=bob, room_id=room.id, body="on it", client_id=uuid.uuid4(), reply_to=first.id
        )

    in_thread(seed)
    page = people.page_for(bob)
    page.emulate_media(color_scheme=scheme)
    open_chat(page, f"/chat/r/{room.slug}/")
    expect(page.locator(".mention-me")).to_have_text("@bob")
    assert_accessible(page, "a conversation with rich messages")

    message_id = Message.objects.get(body="on it").id
    page.get_by_role("button", name=f"Add a reaction to message {message_id}").click()
    expect(page.get_by_role("dialog", name="Choose a reaction")).to_be_visible()
    assert_accessible(page, "the emoji picker")
    page.keyboard.press("Escape")
    box = page.get_by_role("textbox", name="Message")
    box.press_sequentially("@a")
    expect(page.get_by_role("listbox", name="People to mention")).to_be_visible()
    assert_accessible(page, "the mention autocomplete")


def assert_accessible(page, what: str) -> None:
    results = Axe().run(page)
    assert results.violations_count == 0, f"{what}:\n{results.generate_report()}"
