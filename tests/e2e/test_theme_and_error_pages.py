"""The site as `make run` serves it (DEBUG off): light and dark colours that pass axe-core, the
header's colour-scheme switch, the styled error pages and the lost-room page, and search results
in the reader's time zone."""

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.db import connection
from playwright.sync_api import expect

from chat import services
from chat.models import Message, Room
from tests.conftest import LiveServer, in_a_thread
from tests.e2e.conftest import DESKTOP, user_who_logs_in
from tests.factories import PASSWORD, make_room, new_client_id

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LIGHT_BACKGROUND = "rgb(246, 247, 249)"
DARK_BACKGROUND = "rgb(15, 17, 23)"


@pytest.fixture(scope="module")
def production_url(server_env):
    """The server with `make run`'s settings: DEBUG off, plain HTTP on loopback. The tests' own
    secret key, so that the sessions they make hold there."""
    server = LiveServer(
        {**server_env, "DEBUG": "0", "PARLEY_LOCAL_HTTP": "1", "SECRET_KEY": settings.SECRET_KEY}
    )
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def open_browser(browser, production_url, transactional_db):
    """Opens pages in contexts of their own (a person's computer, with its colour scheme and
    time zone), signed in through the log-in form when given a user."""
    contexts = []

    def opener(user=None, **options):
        context = browser.new_context(base_url=production_url, viewport=DESKTOP, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        if user is not None:
            page.goto("/accounts/login/")
            page.get_by_label("Username").fill(user.username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(re.compile(r"/chat/$"))
        return page

    yield opener
    for context in contexts:
        context.close()


def seeded(seed):
    """Run `seed` in a thread of its own: the services publish with async_to_sync, which cannot
    run beside Playwright's event loop."""

    def run():
        try:
            return seed()
        finally:
            connection.close()

    return in_a_thread(run)


def post(author, room, body: str) -> Message:
    return services.message_post(
        author=author, room_id=room.id, body=body, client_id=new_client_id()
    )[0]


def staff_user():
    staff = user_who_logs_in("admin", "Ada", "Admin")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    return staff


def background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def assert_accessible(page, what: str) -> None:
    results = Axe().run(page)
    assert results.violations_count == 0, f"{what}:\n{results.generate_report()}"


def test_the_colours_follow_the_system_until_the_header_switch_keeps_a_choice(open_browser):
    alice = user_who_logs_in("alice", "Alice", "Archer")
    page = open_browser(alice, color_scheme="dark")
    page.goto("/accounts/profile/")
    assert background(page) == DARK_BACKGROUND  # the system's scheme

    page.get_by_role("button", name="Light").click()

    expect(page).to_have_url(re.compile(r"/accounts/profile/$"))  # back where it was chosen
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    expect(page.get_by_role("button", name="Light")).to_have_attribute("aria-pressed", "true")
    assert background(page) == LIGHT_BACKGROUND  # despite the dark system

    # The choice is the account's: another computer, with a light system, gets it too.
    elsewhere = open_browser(alice, color_scheme="light")
    elsewhere.get_by_role("button", name="Dark").click()
    expect(elsewhere.locator("html")).to_have_attribute("data-theme", "dark")
    assert background(elsewhere) == DARK_BACKGROUND
    elsewhere.get_by_role("button", name="Follow the system").click()
    expect(elsewhere.locator("html")).to_have_attribute("data-theme", "system")
    assert background(elsewhere) == LIGHT_BACKGROUND


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_pass_axe_core_in_both_colour_schemes(open_browser, scheme):
    def seed():
        staff, alice = staff_user(), user_who_logs_in("alice", "Alice", "Archer")
        general = services.room_create_public(creator=staff, name="General")
        post(staff, general, "hello")
        plans = make_room(Room.Kind.PRIVATE, staff, alice, name="Plans")
        services.member_remove(actor=staff, room_id=plans.id, user_id=alice.id)
        return staff, alice, general, plans

    staff, alice, general, plans = seeded(seed)

    visitor = open_browser(color_scheme=scheme)
    visitor.goto("/accounts/login/")
    assert_accessible(visitor, "the log-in page")
    visitor.goto("/no-such-page/")
    expect(visitor.get_by_role("heading", name="Page not found")).to_be_visible()
    assert_accessible(visitor, "the 404 page")

    page = open_browser(staff, color_scheme=scheme)
    for path, heading in [
        ("/chat/", "Your chats"),
        ("/accounts/profile/", "Your profile"),
        ("/chat/staff/rooms/", "Public rooms"),
        (f"/chat/staff/rooms/{general.id}/delete/", "Delete General and its 1 message?"),
        ("/chat/search/?q=hello", "Search messages"),
        ("/no-such-page/", "Page not found"),
    ]:
        page.goto(path)
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        assert background(page) == (DARK_BACKGROUND if scheme == "dark" else LIGHT_BACKGROUND)
        assert_accessible(page, path)

    lost = open_browser(alice, color_scheme=scheme)
    lost.goto(f"/chat/r/{plans.slug}/")
    expect(
        lost.get_by_role("heading", name="You no longer have access to this room")
    ).to_be_visible()
    expect(lost.get_by_text("The room's owner removed you from Plans.")).to_be_visible()
    assert_accessible(lost, "the lost-room page")


def test_staff_delete_a_room_only_after_a_confirmation_naming_it(open_browser):
    def seed():
        staff = staff_user()
        general = services.room_create_public(creator=staff, name="General")
        for n in range(3):
            post(staff, general, f"hello {n}")
        return staff, general

    staff, general = seeded(seed)
    page = open_browser(staff)
    page.goto("/chat/staff/rooms/")
    row = page.get_by_role("row", name=re.compile("General"))
    expect(row.get_by_role("cell")).to_have_text(["1", "3", re.compile("Delete")])

    row.get_by_role("link", name="Delete General").click()

    expect(page.get_by_role("heading", name="Delete General and its 3 messages?")).to_be_visible()
    assert Room.objects.filter(id=general.id).exists()
    page.get_by_role("button", name="Delete General").click()
    expect(page.get_by_role("status")).to_contain_text("General was deleted.")
    expect(page.get_by_role("row", name=re.compile("General"))).to_have_count(0)
    assert not Room.objects.filter(id=general.id).exists()


def test_search_results_show_the_readers_time_and_open_the_room_at_the_message(open_browser):
    def seed():
        alice = user_who_logs_in("alice", "Alice", "Archer")
        room = make_room(Room.Kind.PRIVATE, alice, name="Plans")
        return alice, room, [post(alice, room, body) for body in ("first", "the needle", "last")]

    alice, room, (_, needle, _) = seeded(seed)
    Message.objects.filter(id=needle.id).update(created_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    page = open_browser(alice, timezone_id="Pacific/Auckland", locale="en-GB")

    page.goto("/chat/search/?q=needle")

    result = page.get_by_role("listitem").filter(has_text="the needle")
    local = datetime(2026, 3, 1, 23, 30, tzinfo=UTC).astimezone(ZoneInfo("Pacific/Auckland"))
    assert local.day == 2  # 12:30 the next day there
    expect(result.locator("time")).to_have_text(re.compile(r"^2 Mar 2026,? 12:30$"))
    link = result.get_by_role("link", name=re.compile("Plans"))
    expect(link).to_have_attribute("href", f"/chat/r/{room.slug}/?at={needle.seq}")
