"""People around a conversation, tried by three people at once: who is online, idle or gone,
who is typing, who has seen what, and profile cards that open a direct chat; and a person whose
server process is killed goes offline for the others."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from chat.models import Room
from tests.conftest import LiveServer
from tests.e2e.pages import expect_message, open_chat, send_with_enter
from tests.factories import UserFactory, make_room

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def member(page: Page, name: str):
    """The member list's line for `name` (its presence dot's words are part of it)."""
    return page.locator("[data-member-list] li").filter(has_text=name)


def typing_line(page: Page):
    return page.locator("[data-typing]")


def message_item(page: Page, text: str):
    return page.locator(".message:not(.pending)").filter(has_text=text)


def three_in_a_room(people):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    carol = UserFactory(username="carol", first_name="Carol", last_name="Clark")
    room = make_room("private", alice, bob, carol, name="Plans")
    pages = []
    for user in (alice, bob, carol):
        page = people.page_for(user)
        open_chat(page, f"/chat/r/{room.slug}/")
        pages.append(page)
    return pages


def test_three_people_see_presence_typing_receipts_and_cards(people):
    alice, bob, carol = three_in_a_room(people)

    expect(member(alice, "Bob Baker")).to_contain_text("Online")
    expect(member(alice, "Carol Clark")).to_contain_text("Online")
    expect(member(bob, "Alice Archer")).to_contain_text("Online")

    # Two people typing at once are both named; a message ends its author's typing.
    bob.get_by_label("Message", exact=True).press_sequentially("Hi")
    expect(typing_line(alice)).to_have_text("Bob Baker is typing…")
    carol.get_by_label("Message", exact=True).press_sequentially("Hey")
    expect(typing_line(alice)).to_have_text("Bob Baker and Carol Clark are typing…")
    bob.get_by_label("Message", exact=True).press("Enter")
    expect_message(alice, "Hi")
    expect(typing_line(alice)).to_have_text("Carol Clark is typing…")
    # Typing again right after sending is told again at once (the throttle starts over).
    bob.get_by_label("Message", exact=True).press_sequentially("More")
    expect(typing_line(alice)).to_contain_text("Bob Baker")
    expect(typing_line(alice)).to_have_text("", timeout=8000)  # both stopped a while ago

    # Both others have the room open: Alice's message is seen by both, live.
    bob.get_by_label("Message", exact=True).fill("")
    send_with_enter(alice, "Lunch at noon?")
    expect(message_item(alice, "Lunch at noon?").locator(".seen-by")).to_contain_text(
        "Seen by Bob Baker and Carol Clark"
    )
    expect(message_item(alice, "Hi").locator(".seen-by")).to_have_count(0)

    # A card for Carol, from her name in the member list, opens the direct chat with her.
    member(alice, "Carol Clark").get_by_role("button", name="Carol Clark").click()
    card = alice.get_by_role("dialog", name="Profile of Carol Clark")
    expect(card).to_be_visible()
    expect(card).to_contain_text("@carol")
    expect(card).to_contain_text("Online")
    # Her browser reported its time zone when it connected.
    zone = carol.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    expect(card).to_contain_text(f"({zone.replace('_', ' ')})")
    expect(card.get_by_role("img", name="Picture of Carol Clark")).to_be_visible()
    # Dots, receipts and the card have words and names: axe-core finds nothing to fault.
    results = Axe().run(alice)
    assert results.violations_count == 0, results.generate_report()
    card.get_by_role("button", name="Close").click()
    expect(card).to_be_hidden()

    # Carol leaves: the others see her offline, and since when.
    carol.close()
    expect(member(alice, "Carol Clark")).to_contain_text("Offline, last seen just now")
    expect(member(bob, "Carol Clark")).to_contain_text("Offline, last seen just now")

    message_item(alice, "Hi").get_by_role("button", name="Bob Baker").click()
    card = alice.get_by_role("dialog", name="Profile of Bob Baker")
    card.get_by_role("button", name="Message Bob Baker").click()
    expect(alice.get_by_role("heading", name="Bob Baker", exact=True)).to_be_visible()
    assert (
        Room.objects.filter(kind="direct", memberships__user__username="bob")
        .filter(memberships__user__username="alice")
        .exists()
    )


def test_a_person_who_hides_presence_looks_offline_and_sends_no_receipts(people):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(
        username="bob",
        first_name="Bob",
        last_name="Baker",
        show_presence=False,
        send_read_receipts=False,
    )
    make_room("direct", alice, bob)
    alice_page = people.page_for(alice)
    open_chat(alice_page, "/chat/dm/bob/")
    bob_page = people.page_for(bob)
    open_chat(bob_page, "/chat/dm/alice/")
    send_with_enter(alice_page, "Are you there?")
    expect_message(bob_page, "Are you there?")
    bob_page.wait_for_timeout(1500)  # Bob's page reports the message read
    dm = alice_page.locator("[data-room-list] li").filter(has_text="Bob Baker")
    expect(dm).to_contain_text("Offline")
    expect(dm).not_to_contain_text("last seen")
    expect(alice_page.locator(".seen-by")).to_have_count(0)


def test_someone_whose_server_process_is_killed_goes_offline_for_the_others(
    people, live_url, server_env
):
    """Alice and Bob use two server processes; Bob's is killed (no goodbye from it): his socket
    entries are no longer renewed, and Alice's process tells her he is offline."""
    quick = {**server_env, "CHAT_SOCKET_TTL": "3", "CHAT_REVALIDATE_SECONDS": "1"}
    alices_server, bobs_server = LiveServer(quick), LiveServer(quick)
    alices_server.start()
    bobs_server.start()
    try:
        alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
        bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
        make_room("direct", alice, bob)
        alice_page = people.page_for(alice, base_url=alices_server.url)
        open_chat(alice_page, "/chat/dm/bob/")
        bob_page = people.page_for(bob, base_url=bobs_server.url)
        open_chat(bob_page, "/chat/dm/alice/")
        dm = alice_page.locator("[data-room-list] li").filter(has_text="Bob Baker")
        expect(dm).to_contain_text("Online")
        bobs_server.process.kill()
        bobs_server.process.wait()
        expect(dm).to_contain_text("Offline, last seen", timeout=15_000)
    finally:
        bobs_server.stop()
        alices_server.stop()


def test_a_person_away_from_the_keyboard_shows_idle_and_back_online_on_input(people):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    make_room("direct", alice, bob)
    alice_page = people.page_for(alice)
    open_chat(alice_page, "/chat/dm/bob/")
    bob_page = people.page_for(bob)
    bob_page.clock.install()
    open_chat(bob_page, "/chat/dm/alice/")
    dm = alice_page.locator("[data-room-list] li").filter(has_text="Bob Baker")
    expect(dm).to_contain_text("Online")
    bob_page.clock.fast_forward("04:00")  # four minutes without a key or a click
    expect(dm).to_contain_text("Idle")
    bob_page.get_by_label("Message", exact=True).press("a")
    expect(dm).to_contain_text("Online")
