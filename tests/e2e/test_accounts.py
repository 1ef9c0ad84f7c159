"""A newcomer signs up and makes the profile their own."""

import io
import re

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from accounts.models import User
from tests.e2e.pages import expect_message, open_chat, send_with_enter, stored_message
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def portrait_png() -> bytes:
    """A small, not square, picture: an orange face on a teal background."""
    image = Image.new("RGB", (320, 240), (20, 120, 130))
    draw = ImageDraw.Draw(image)
    draw.ellipse((100, 40, 220, 200), fill=(245, 170, 80))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def header_picture(page):
    """The picture in the site header, next to the person's name."""
    return page.get_by_role("navigation", name="Main").locator(".nav-profile img")


def test_newcomer_signs_up_and_her_picture_shows_in_the_header(people):
    page = people.context().new_page()
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Email address").fill("alice@example.com")
    page.get_by_label(re.compile(r"^Password:?$")).fill("a long and unusual passphrase")
    page.get_by_label("Password (again)").fill("a long and unusual passphrase")
    page.get_by_role("button", name="Sign up").click()

    expect(page.get_by_role("heading", name="Your chats")).to_be_visible()
    assert User.objects.filter(username="alice").exists()
    generated = header_picture(page).get_attribute("src")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="alice").click()
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    page.get_by_label("First name").fill("Alice")
    page.get_by_label("Last name").fill("Archer")
    page.get_by_label("New picture").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": portrait_png()}
    )
    page.get_by_role("button", name="Save profile").click()

    expect(page.get_by_text("Your profile is saved.")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Alice Archer")).to_be_visible()
    picture = header_picture(page)
    expect(picture).to_have_attribute("src", re.compile(r"^/media/"))
    assert picture.get_attribute("src") != generated
    assert picture.evaluate("img => img.complete && img.naturalWidth") > 0
    size = picture.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert size[0] == size[1], "the picture is cropped to a square"
    expect(page.get_by_role("img", name="Your picture")).to_have_attribute(
        "src", picture.get_attribute("src")
    )

    # The same picture stands beside her messages.
    UserFactory(username="bob")
    open_chat(page, "/chat/dm/bob/")
    send_with_enter(page, "Hello with my new picture")
    expect_message(page, "Hello with my new picture")
    mine = stored_message(page, "Hello with my new picture").locator("img")
    expect(mine).to_have_attribute("src", picture.get_attribute("src"))
