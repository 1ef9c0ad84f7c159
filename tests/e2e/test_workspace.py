"""The one-page workspace, with two or three people at once: the sidebar's live state, switching
rooms without a reload, reading comfort, attention, signing out elsewhere, the keyboard."""

import datetime
import re
import uuid

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from chat.models import Membership, Message, Room
from tests.e2e.conftest import DESKTOP, PHONE, SEEN_WITHIN_MS
from tests.e2e.pages import (
    ReceivedFrames,
    bodies,
    expect_all_sent,
    expect_message,
    messages,
    open_chat,
    send_with_enter,
    seqs,
    stored_message,
    wait_connected,
)
from tests.factories import UserFactory, make_room

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def chat_link(page, name: str):
    return page.get_by_role("navigation", name="Your chats").get_by_role(
        "link", name=re.compile(rf"^{re.escape(name)}\b")
    )


def composer(page):
    return page.get_by_label("Message", exact=True)


def stored_history(room, authors, count: int, *, start=None) -> None:
    """`count` messages in `room`, by `authors` in turn, a minute apart (ending now)."""
    start = start or timezone.now() - datetime.timedelta(minutes=count)
    Message.objects.bulk_create(
        Message(
            room=room,
            author=authors[seq % len(authors)],
            seq=seq,
            pos=seq,
            body=f"message number {seq:03}",
            client_id=uuid.uuid4(),
        )
        for seq in range(1, count + 1)
    )
    for seq in range(1, count + 1):
        Message.objects.filter(room=room, seq=seq).update(
            created_at=start + datetime.timedelta(minutes=seq)
        )
    Room.objects.filter(id=room.id).update(
        last_seq=count, last_pos=count, last_message_at=timezone.now()
    )


def test_unread_counts_live_in_the_sidebar_and_reading_in_one_tab_clears_the_other(people):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    make_room(Room.Kind.DIRECT, alice, bob)
    make_room(Room.Kind.PUBLIC, alice, bob, name="General")

    first_tab = people.page_for(alice)
    first_tab.goto("/chat/")
    wait_connected(first_tab)
    second_tab = first_tab.context.new_page()
    second_tab.goto("/chat/")
    wait_connected(second_tab)
    bob_page = people.page_for(bob)
    open_chat(bob_page, "/chat/dm/alice/")

    send_with_enter(bob_page, "are you there?")
    send_with_enter(bob_page, "hello?")
    for tab in (first_tab, second_tab):
        expect(chat_link(tab, "Bob Baker").get_by_text("2 unread")).to_be_visible()
        expect(chat_link(tab, "Bob Baker")).to_contain_text("Bob Baker: hello?")
        expect(tab).to_have_title("(2) Chats · Parley")
        expect(tab.locator('link[rel="icon"]')).to_have_attribute("data-unread", "2")

    # Reading in the first tab clears the count in the second.
    chat_link(first_tab, "Bob Baker").click()
    expect_message(first_tab, "hello?")
    expect(first_tab).to_have_title("Bob Baker · Parley")
    expect(chat_link(second_tab, "Bob Baker").get_by_text("unread")).to_have_count(0)
    expect(second_tab).to_have_title("Chats · Parley")
    assert Membership.objects.get(user=alice, room__kind="direct").last_read_seq == 2

    # One's own messages never count; a deleted one stops counting and leaves the preview.
    send_with_enter(first_tab, "my own words")
    expect_message(first_tab, "my own words")
    bob_page.get_by_role("link", name="General").click()
    send_with_enter(bob_page, "the real news")
    send_with_enter(bob_page, "oops wrong room")
    expect(chat_link(second_tab, "General").get_by_text("2 unread")).to_be_visible()
    mistake = stored_message(bob_page, "oops wrong room")
    mistake.hover()
    mistake.get_by_role("button", name="Delete message").click()
    mistake.get_by_role("button", name="Confirm deleting message").click()
    for tab in (first_tab, second_tab):
        expect(chat_link(tab, "General").get_by_text("1 unread")).to_be_visible()
        expect(chat_link(tab, "General")).to_contain_text("Bob Baker: the real news")
        expect(chat_link(tab, "Bob Baker").get_by_text("unread")).to_have_count(0)
    # The list is ordered by activity: the room that spoke last comes first.
    names = second_tab.locator("[data-room-name]").all_text_contents()
    assert names == ["General", "Bob Baker"]


def test_switching_rooms_keeps_drafts_history_and_the_address_without_a_reload(people):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    make_room(Room.Kind.DIRECT, alice, bob)
    make_room(Room.Kind.PUBLIC, alice, bob, name="General")
    page = people.page_for(alice)
    bob_page = people.page_for(bob)
    open_chat(bob_page, "/chat/dm/alice/")
    open_chat(page, "/chat/dm/bob/")
    page.evaluate("window.sameDocument = true")
    send_with_enter(bob_page, "first in the direct chat")
    expect_message(page, "first in the direct chat")
    expect(composer(page)).to_be_focused()
    composer(page).fill("half a thought for Bob")

    chat_link(page, "General").click()
    expect(page).to_have_url(re.compile(r"/chat/r/[^/]+/$"))
    expect(page.get_by_role("heading", name="General", level=1)).to_be_visible()
    expect(composer(page)).to_be_focused()
    expect(composer(page)).to_have_value("")
    composer(page).fill("a draft for General")
    # Bob writes in the direct chat while Alice is elsewhere: it is kept for her.
    send_with_enter(bob_page, "second, while you were in General")

    page.go_back()
    expect(page).to_have_url(re.compile(r"/chat/dm/bob/$"))
    expect(page.get_by_role("heading", name="Bob Baker", level=1)).to_be_visible()
    expect(composer(page)).to_have_value("half a thought for Bob")
    expect_message(page, "second, while you were in General")
    assert bodies(page) == ["first in the direct chat", "second, while you were in General"]
    page.go_forward()
    expect(page.get_by_role("heading", name="General", level=1)).to_be_visible()
    expect(composer(page)).to_have_value("a draft for General")
    assert page.evaluate("window.sameDocument") is True, "the page was reloaded"


def test_a_phone_switches_between_the_list_and_the_conversation(people):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    make_room(Room.Kind.DIRECT, alice, bob)
    page = people.page_for(alice, viewport=PHONE)
    page.goto("/chat/")
    wait_connected(page)
    log = page.get_by_role("log", name="Conversation")
    expect(log).to_be_hidden()
    chat_link(page, "Bob Baker").click()
    expect(log).to_be_visible()
    expect(chat_link(page, "Bob Baker")).to_be_hidden()
    wait_connected(page)  # the status stays in sight in a conversation
    page.get_by_role("link", name="Back to chats").click()
    expect(chat_link(page, "Bob Baker")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/chat/$"))


def test_joining_removals_and_new_public_rooms_appear_live(people):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    staff = UserFactory(username="staff", is_staff=True)
    club = make_room(Room.Kind.PRIVATE, bob, alice, name="Book club")
    make_room(Room.Kind.DIRECT, alice, bob)
    page = people.page_for(alice)
    open_chat(page, f"/chat/r/{club.slug}/")
    bob_page = people.page_for(bob)
    open_chat(bob_page, f"/chat/r/{club.slug}/")

    # Staff create a public room: it reaches Alice's open page, offered with a Join button.
    visitor = people.page_for(staff)
    visitor.goto("/chat/staff/rooms/")
    visitor.get_by_label("Room name").fill("Town hall")
    visitor.get_by_role("button", name="Create public room").click()
    expect(visitor.get_by_text("Public room created.")).to_be_visible()
    town_hall = Room.objects.get(name="Town hall")
    offers = page.get_by_role("region", name="Public rooms to join")
    expect(offers.get_by_role("button", name="Join Town hall")).to_be_visible()

    # Bob joins it: it leaves his offers and joins his chats, and its members see him live.
    open_chat(visitor, f"/chat/r/{town_hall.slug}/")
    expect(visitor.get_by_role("complementary").get_by_text("Bob Baker")).to_have_count(0)
    bob_page.get_by_role("button", name="Join Town hall").click()
    expect(bob_page.get_by_role("heading", name="Town hall", level=1)).to_be_visible()
    expect(chat_link(bob_page, "Town hall")).to_be_visible()
    expect(visitor.get_by_role("complementary").get_by_text("Bob Baker")).to_be_visible()
    expect(visitor.get_by_role("log").get_by_text("Bob Baker joined.")).to_be_visible()

    # Bob (the owner) removes Alice from the book club: her open room says so and leaves her list.
    open_chat(bob_page, f"/chat/r/{club.slug}/")
    bob_page.get_by_role("button", name="Remove alice").click()
    expect(page.get_by_role("alert")).to_contain_text("You were removed from this room")
    expect(chat_link(page, "Book club")).to_have_count(0)
    expect(composer(page)).to_be_disabled()
    expect(page.get_by_text("Page not found")).to_have_count(0)


def test_a_room_lost_says_why_in_the_open_conversation(people):
    alice = UserFactory(username="alice")
    staff = UserFactory(username="staff", is_staff=True)
    town_hall = make_room(Room.Kind.PUBLIC, staff, alice, name="Town hall")
    club = make_room(Room.Kind.PRIVATE, staff, alice, name="Book club")
    page = people.page_for(alice)
    open_chat(page, f"/chat/r/{club.slug}/")

    # Alice leaves the book club in another tab: this one says so and drops it.
    other_tab = page.context.new_page()
    open_chat(other_tab, f"/chat/r/{club.slug}/")
    other_tab.get_by_role("button", name="Leave room").click()
    expect(page.get_by_role("alert")).to_contain_text("You left this room.")
    expect(chat_link(page, "Book club")).to_have_count(0)

    # Staff delete the public room Alice has open.
    chat_link(page, "Town hall").click()
    expect(page.get_by_role("heading", name="Town hall", level=1)).to_be_visible()
    staff_page = people.page_for(staff)
    staff_page.goto("/chat/staff/rooms/")
    staff_page.get_by_role("link", name="Delete Town hall").click()
    staff_page.get_by_role("button", name="Delete Town hall").click()
    expect(page.get_by_role("alert")).to_contain_text("This room was deleted.")
    expect(chat_link(page, "Town hall")).to_have_count(0)
    expect(composer(page)).to_be_disabled()
    # A deleted public room is not offered to join again.
    expect(page.get_by_role("button", name="Join Town hall")).to_have_count(0)
    assert not Room.objects.filter(id=town_hall.id).exists()


def same_session_elsewhere(people, page):
    """The dashboard in another window of the same browser session (the same cookie)."""
    other = people.context()
    other.add_cookies(page.context.cookies())
    settings_tab = other.new_page()
    settings_tab.goto("/accounts/profile/")
    return settings_tab


def test_signing_out_in_another_tab_says_so_at_once_and_keeps_the_unsent_text(people, browser):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    make_room(Room.Kind.DIRECT, alice, bob)
    page = people.page_for(alice)
    open_chat(page, "/chat/dm/bob/")
    settings_tab = same_session_elsewhere(people, page)

    page.context.set_offline(True)
    expect(page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    send_with_enter(page, "written while the network was down")
    expect(page.get_by_text("Sending…")).to_be_visible()
    composer(page).fill("and a second thought")
    settings_tab.get_by_role("button", name="Log out").click()
    page.context.set_offline(False)

    expect(page.get_by_role("status").filter(has_text="Signed out")).to_be_visible(timeout=6000)
    expect(page.get_by_text("Sending…")).to_have_count(0)
    expect(composer(page)).to_be_disabled()
    expect(composer(page)).to_have_value("written while the network was down\nand a second thought")
    assert not Message.objects.exists()


def test_a_logout_elsewhere_shows_signed_out_within_a_moment(people):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    make_room(Room.Kind.DIRECT, alice, bob)
    page = people.page_for(alice)
    open_chat(page, "/chat/dm/bob/")
    same_session_elsewhere(people, page).get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status").filter(has_text="Signed out")).to_be_visible(
        timeout=SEEN_WITHIN_MS
    )
    expect(page.get_by_text("Connecting…")).to_have_count(0)
    expect(composer(page)).to_be_disabled()


def test_messages_refused_by_the_rate_limit_are_shown_in_seq_order(people, make_server):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    make_room(Room.Kind.DIRECT, alice, bob)
    strict = make_server(CHAT_RATE_PER_SECOND="4", CHAT_RATE_BURST="3")
    page = people.page_for(alice, base_url=strict.url)
    frames = ReceivedFrames(page)
    open_chat(page, "/chat/dm/bob/")
    bob_page = people.page_for(bob, base_url=strict.url)
    open_chat(bob_page, "/chat/dm/alice/")
    sent = [f"quick {n}" for n in range(1, 16)]
    for text in sent:
        send_with_enter(page, text)
    expect(messages(page)).to_have_count(15)
    # Refused ones are sent again after the wait the server names: a few seconds in all.
    expect(page.locator(".message.pending")).to_have_count(0, timeout=20_000)
    expect(messages(bob_page)).to_have_count(15)
    assert seqs(page) == list(range(1, 16))
    assert seqs(bob_page) == list(range(1, 16))
    assert bodies(page) == bodies(bob_page)
    assert sorted(bodies(page)) == sorted(sent)
    assert frames.mentioning('"rate_limited"'), "the server refused some: the case under test"


def test_a_search_result_opens_the_room_at_the_message_highlighted(people):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    room = make_room(Room.Kind.PUBLIC, alice, bob, name="History")
    stored_history(room, [alice, bob], 120)
    Membership.objects.filter(room=room).update(last_read_seq=120)
    page = people.page_for(bob)
    page.goto(f"/chat/r/{room.slug}/?at=30")
    wait_connected(page)
    target = stored_message(page, "message number 030")
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile(r"\bhighlight\b"))
    assert seqs(page)[0] < 30 < seqs(page)[-1] < 120
    page.get_by_role("button", name="Jump to latest").click()
    expect(stored_message(page, "message number 120")).to_be_in_viewport()
    expect(page).to_have_url(re.compile(rf"/chat/r/{room.slug}/$"))
    expect(page.get_by_role("button", name="Jump to latest")).to_be_hidden()

    # Sending from a window around an older message puts the message after the latest ones.
    page.goto(f"/chat/r/{room.slug}/?at=30")
    wait_connected(page)
    send_with_enter(page, "a reply from the past")
    expect_message(page, "a reply from the past")
    expect_all_sent(page)
    assert seqs(page)[-2:] == [120, 121]
    assert seqs(page) == list(range(seqs(page)[0], 122))


def test_opening_a_room_shows_new_messages_and_jump_to_latest_when_scrolled_up(people):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    room = make_room(Room.Kind.PUBLIC, alice, bob, name="Busy")
    stored_history(room, [bob], 40)
    Membership.objects.filter(room=room, user=alice).update(last_read_seq=25)
    page = people.page_for(alice)
    open_chat(page, f"/chat/r/{room.slug}/")
    log = page.get_by_role("log", name="Conversation")
    marker = log.get_by_role("listitem").filter(has_text=re.compile("^New messages$"))
    expect(marker).to_be_in_viewport()
    following = marker.locator("xpath=following-sibling::li[contains(@class,'message')][1]")
    expect(following).to_have_attribute("data-seq", "26")

    bob_page = people.page_for(bob)
    open_chat(bob_page, f"/chat/r/{room.slug}/")
    log.evaluate("log => (log.scrollTop = 0)")
    jump = page.get_by_role("button", name="Jump to latest")
    expect(jump).to_be_hidden()
    send_with_enter(bob_page, "something new")
    expect(jump).to_be_visible()
    jump.click()
    expect(stored_message(page, "something new")).to_be_in_viewport()


def test_messages_are_grouped_by_author_with_day_separators(people):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    room = make_room(Room.Kind.PUBLIC, alice, bob, name="Days")
    # Three by Bob, a minute apart, yesterday at noon (the browser's time zone is the server's).
    yesterday = (timezone.now() - datetime.timedelta(days=1)).replace(hour=12, minute=0)
    stored_history(room, [bob], 3, start=yesterday)
    page = people.page_for(alice)
    open_chat(page, f"/chat/r/{room.slug}/")
    separators = page.get_by_role("log", name="Conversation").get_by_role("listitem")
    expect(separators.filter(has_text=re.compile("^Yesterday$"))).to_have_count(1)
    expect(messages(page).nth(0)).not_to_have_class(re.compile(r"\bgrouped\b"))
    expect(messages(page).nth(1)).to_have_class(re.compile(r"\bgrouped\b"))
    send_with_enter(page, "and today")
    expect_message(page, "and today")
    expect(separators.filter(has_text=re.compile("^Today$"))).to_have_count(1)
    expect(messages(page).nth(3)).not_to_have_class(re.compile(r"\bgrouped\b"))


def test_the_keyboard_moves_between_rooms_and_edits_the_last_message(people):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    carol = UserFactory(username="carol", first_name="Carol", last_name="Cole")
    make_room(Room.Kind.DIRECT, alice, bob)
    make_room(Room.Kind.DIRECT, alice, carol)
    page = people.page_for(alice)
    open_chat(page, "/chat/dm/bob/")
    log = page.get_by_role("log", name="Conversation")
    expect(log).to_have_attribute("tabindex", "0")
    expect(composer(page)).to_be_focused()
    send_with_enter(page, "typo here")
    expect_message(page, "typo here")

    composer(page).press("ArrowUp")
    editor = page.get_by_label("Edit message", exact=True)
    expect(editor).to_be_focused()
    expect(editor).to_have_value("typo here")
    editor.press("Escape")
    expect(editor).to_have_count(0)
    expect(composer(page)).to_be_focused()
    composer(page).press("ArrowUp")
    editor.fill("no typo here")
    editor.press("Enter")
    expect_message(page, "no typo here")

    names = page.locator("[data-room-name]").all_text_contents()
    below = names[names.index("Bob Baker") + 1]
    page.keyboard.press("Alt+ArrowDown")
    expect(page.get_by_role("heading", name=below, level=1)).to_be_visible()
    expect(composer(page)).to_be_focused()
    page.keyboard.press("Alt+ArrowUp")
    expect(page.get_by_role("heading", name="Bob Baker", level=1)).to_be_visible()


def test_a_too_long_message_is_refused_and_kept_with_a_counter_near_the_limit(people):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    make_room(Room.Kind.DIRECT, alice, bob)
    page = people.page_for(alice)
    open_chat(page, "/chat/dm/bob/")
    limit = settings.CHAT_MESSAGE_MAX_LENGTH
    counter = page.get_by_text(re.compile(r"characters (left|too many)$"))
    composer(page).fill("short")
    expect(counter).to_be_hidden()
    composer(page).fill("x" * (limit - 10))
    expect(counter).to_have_text("10 characters left")
    long_text = "y" * (limit + 100)
    composer(page).fill(long_text)
    expect(counter).to_have_text("100 characters too many")
    composer(page).press("Enter")
    expect(page.get_by_role("alert").filter(has_text="at most")).to_be_visible()
    expect(composer(page)).to_have_value(long_text)
    page.wait_for_timeout(500)
    assert not Message.objects.exists()
    assert messages(page).count() == 0


def test_a_confirmation_banner_leaves_the_composer_on_screen_and_can_be_dismissed(people):
    alice = UserFactory(username="alice")
    UserFactory(username="bob")
    club = make_room(Room.Kind.PRIVATE, alice, name="Book club")
    page = people.page_for(alice)
    open_chat(page, f"/chat/r/{club.slug}/")
    page.get_by_label("Invite by username").fill("bob")
    page.get_by_role("button", name="Invite").click()
    banner = page.get_by_text("bob was added to the room.")
    expect(banner).to_be_visible()
    wait_connected(page)
    expect(composer(page)).to_be_in_viewport()
    expect(page.get_by_role("button", name="Send")).to_be_in_viewport()
    page.get_by_role("button", name=re.compile("^Dismiss")).click()
    expect(banner).to_have_count(0)


NOTIFICATION_SPY = """
window.shownNotifications = [];
const Real = window.Notification;
window.Notification = class extends Real {
  constructor(title, options) { window.shownNotifications.push(title); super(title, options); }
};
window.Notification.requestPermission = (...args) => Real.requestPermission(...args);
Object.defineProperty(window.Notification, "permission", { get: () => Real.permission });
Object.defineProperty(Document.prototype, "hidden", { get: () => Boolean(window.tabHidden) });
"""


def test_desktop_notifications_are_opt_in_and_only_for_others_direct_messages(people):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    make_room(Room.Kind.DIRECT, alice, bob)
    make_room(Room.Kind.PUBLIC, alice, bob, name="General")
    page = people.page_for(alice)
    page.context.grant_permissions(["notifications"])
    page.add_init_script(NOTIFICATION_SPY)
    open_chat(page, "/chat/dm/bob/")
    bob_page = people.page_for(bob)
    open_chat(bob_page, "/chat/dm/alice/")

    page.evaluate("window.tabHidden = true")
    send_with_enter(bob_page, "before opting in")
    expect_message(page, "before opting in")
    assert page.evaluate("window.shownNotifications") == []

    page.evaluate("window.tabHidden = false")
    page.get_by_role("button", name="Turn on notifications").click()
    expect(page.get_by_role("button", name="Turn off notifications")).to_be_visible()
    page.reload()
    wait_connected(page)
    expect(page.get_by_role("button", name="Turn off notifications")).to_be_visible()

    page.evaluate("window.tabHidden = true")
    send_with_enter(bob_page, "while you look away")
    expect_message(page, "while you look away")
    chat_link(bob_page, "General").click()
    send_with_enter(bob_page, "a room message")
    expect(chat_link(page, "General").get_by_text("1 unread")).to_be_visible()
    send_with_enter(page, "my own reply")
    expect_message(page, "my own reply")
    assert page.evaluate("window.shownNotifications") == ["Bob Baker"]


AXE_STATES = [
    "home",
    "room",
    "switched",
    "phone list",
    "phone room",
    "signed out",
    "preview",
    "new chat",
    "dark room",
]


@pytest.mark.parametrize("state", AXE_STATES)
def test_the_workspace_passes_axe_core_in_its_main_states(people, state):
    from axe_playwright_python.sync_playwright import Axe

    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    dm = make_room(Room.Kind.DIRECT, alice, bob)
    lobby = make_room(Room.Kind.PUBLIC, bob, name="Lobby for all")
    Room.objects.filter(id=lobby.id).update(slug="lobby-for-all")
    stored_history(dm, [alice, bob], 8)
    viewport = PHONE if state.startswith("phone") else DESKTOP
    scheme = "dark" if state.startswith("dark") else "light"
    page = people.page_for(alice, viewport=viewport, color_scheme=scheme)
    if state in ("home", "phone list", "switched"):
        page.goto("/chat/")
        wait_connected(page)
        if state == "switched":  # a room opened from the list, without a reload
            chat_link(page, "Bob Baker").click()
            expect_message(page, "message number 008")
    elif state == "preview":
        page.goto("/chat/r/lobby-for-all/")
        wait_connected(page)
        expect(page.get_by_role("button", name="Join room")).to_be_visible()
    elif state == "new chat":
        UserFactory(username="carol")
        page.goto("/chat/dm/carol/")
        wait_connected(page)
        expect(page.get_by_role("button", name="Start conversation")).to_be_visible()
    else:
        open_chat(page, "/chat/dm/bob/")
        send_with_enter(page, "a pending one")
    if state == "signed out":
        other = people.context()
        other.add_cookies(page.context.cookies())
        tab = other.new_page()
        tab.goto("/accounts/profile/")
        tab.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("status").filter(has_text="Signed out")).to_be_visible()
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
