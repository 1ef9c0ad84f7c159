"""Pictures of the main pages for the README (make screenshots writes them to docs/screenshots).

Every run takes them, so the pages they show are checked; only PARLEY_SCREENSHOTS=1 keeps them."""

import io
import os
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from accounts import services as account_services
from chat import services
from chat.models import Room
from scripts.dev import ROOT
from tests.conftest import in_a_thread
from tests.e2e.conftest import DESKTOP, PHONE
from tests.e2e.pages import expect_message, open_chat, send_with_enter, wait_connected
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = ROOT / "docs" / "screenshots"


def portrait(background: tuple, face: tuple) -> SimpleUploadedFile:
    """A simple drawn portrait: a head and shoulders on a plain background."""
    image = Image.new("RGB", (240, 240), background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((75, 40, 165, 140), fill=face)
    draw.ellipse((40, 150, 200, 300), fill=face)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return SimpleUploadedFile("portrait.png", buffer.getvalue(), content_type="image/png")


def say(author, room, body):
    message, _ = services.message_post(
        author=author, room_id=room.id, body=body, client_id=uuid.uuid4()
    )
    return message


def seed():
    """A small, lively workspace as Alice sees it, stored through the services.

    They broadcast with async_to_sync, which cannot run beside Playwright's event loop: so
    the seeding runs in a thread of its own."""
    return in_a_thread(_seed_in_thread)


def _seed_in_thread():
    try:
        return _seed()
    finally:
        connection.close()


def _seed():
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    carol = UserFactory(username="carol", first_name="Carol", last_name="Cole")
    dan = UserFactory(username="dan", first_name="Dan", last_name="Diaz")
    account_services.avatar_set(user=alice, upload=portrait((226, 232, 255), (79, 70, 229)))
    account_services.avatar_set(user=carol, upload=portrait((255, 237, 213), (194, 65, 12)))

    general = Room.objects.create(kind=Room.Kind.PUBLIC, name="General", slug="general")
    Room.objects.create(kind=Room.Kind.PUBLIC, name="Random", slug="random")
    Room.objects.create(kind=Room.Kind.PUBLIC, name="Release planning", slug="release-planning")
    for person in (alice, bob, carol, dan):
        services.room_join_public(user=person, room_id=general.id)
    say(carol, general, "Morning all! The staging deploy is green again.")
    say(dan, general, "Nice. Was it the migration lock?")
    say(carol, general, "Yes: a long-running report held the table. Moved it to a replica.")
    say(bob, general, "Thanks Carol. Standup in 10 minutes, same room as usual.")
    say(alice, general, "On my way, bringing the coffee.")

    book_club = services.room_create_private(owner=carol, name="Book club")
    services.member_invite(actor=carol, room_id=book_club.id, username="alice")
    say(carol, book_club, "Next month: “The Left Hand of Darkness”?")

    dm = services.direct_room_open(user=alice, other_username="bob")
    say(bob, dm, "Hey Alice, do you have a minute for the release notes?")
    say(alice, dm, "Sure. I drafted the part about reconnecting after a network drop.")
    say(bob, dm, "Great, that's the one people asked about most.")
    say(
        alice,
        dm,
        "It now says: your messages are kept on the server, and the page fetches whatever "
        "it missed as soon as it is back online. Nothing to do on your side.",
    )
    say(bob, dm, "Perfect. Ship it!")
    services.direct_room_open(user=alice, other_username="dan")
    return alice, bob, carol


# The colour schemes pictured: a light picture is "<name>.png", another "<name>-<scheme>.png".
SCHEMES = ["light", "dark"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_screenshots_of_the_main_pages(people, tmp_path, scheme):
    keep = os.environ.get("PARLEY_SCREENSHOTS") == "1"
    folder = SCREENSHOTS if keep else Path(tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    alice, bob, _ = seed()
    suffix = "" if scheme == "light" else f"-{scheme}"

    def shoot(page, name):
        page.wait_for_load_state("networkidle")
        page.evaluate("document.fonts.ready")
        page.screenshot(path=folder / f"{name}{suffix}.png")

    page = people.page_for(alice, viewport=DESKTOP, color_scheme=scheme)
    page.goto("/chat/")
    wait_connected(page)
    expect(page.get_by_role("link", name="Bob Baker")).to_be_visible()
    shoot(page, "lobby")

    bob_page = people.page_for(bob)
    open_chat(bob_page, "/chat/dm/alice/")
    open_chat(page, "/chat/dm/bob/")
    send_with_enter(bob_page, "See you at standup.")
    expect_message(page, "See you at standup.")
    shoot(page, "direct-chat")

    page.get_by_role("link", name="General").click()
    expect(page.get_by_role("heading", name="General", level=1)).to_be_visible()
    expect_message(page, "On my way, bringing the coffee.")
    shoot(page, "public-room")

    page.goto("/accounts/profile/")
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    shoot(page, "dashboard")

    phone = people.page_for(alice, viewport=PHONE, color_scheme=scheme)
    phone.goto("/chat/")
    wait_connected(phone)
    shoot(phone, "lobby-phone")
    open_chat(phone, "/chat/dm/bob/")
    expect_message(phone, "See you at standup.")
    shoot(phone, "direct-chat-phone")

    for name in ("lobby", "direct-chat", "public-room", "dashboard"):
        assert (folder / f"{name}{suffix}.png").stat().st_size > 10_000
