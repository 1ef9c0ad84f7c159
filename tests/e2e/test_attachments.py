"""Files and pictures shared by two people at once: by button, drag and drop and paste; live,
after a reload, and never again for a member who was removed."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from chat.models import Room
from tests.accounts.images import image_bytes
from tests.e2e.pages import expect_all_sent, messages, wait_connected
from tests.factories import UserFactory, make_room

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PICTURE = image_bytes("PNG", size=(640, 400), color=(30, 120, 200, 255))


@pytest.fixture
def pair(people):
    """Alice and Bob in the private room "Trip", each on their own page of it."""
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker")
    room = make_room(Room.Kind.PRIVATE, alice, bob, name="Trip")
    pages = []
    for user in (alice, bob):
        page = people.page_for(user)
        page.goto(f"/chat/r/{room.slug}/")
        wait_connected(page)
        pages.append(page)
    return pages


def picture(page: Page, name: str):
    return page.get_by_role("log", name="Conversation").get_by_role("img", name=name)


def file_card(page: Page, name: str):
    return page.get_by_role("log", name="Conversation").get_by_role("link", name=f"Download {name}")


def expect_loaded(image) -> None:
    expect(image).to_be_visible()
    image.evaluate("img => img.decode()")
    assert image.evaluate("img => img.naturalWidth") > 0


def drop_files(page: Page, files: list[tuple[str, str, bytes]]) -> None:
    """Drop files on the conversation as a person dragging them from their desktop would."""
    page.locator("[data-room-pane]").evaluate(
        """(pane, files) => {
            const transfer = new DataTransfer();
            for (const [name, type, bytes] of files) {
                transfer.items.add(new File([new Uint8Array(bytes)], name, { type }));
            }
            for (const type of ["dragenter", "dragover", "drop"]) {
                pane.dispatchEvent(new DragEvent(type, {
                    dataTransfer: transfer, bubbles: true, cancelable: true,
                }));
            }
        }""",
        [[name, kind, list(content)] for name, kind, content in files],
    )


def paste_file(page: Page, name: str, kind: str, content: bytes) -> None:
    page.get_by_label("Message", exact=True).evaluate(
        """(box, [name, type, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type }));
            box.dispatchEvent(new ClipboardEvent("paste", {
                clipboardData: transfer, bubbles: true, cancelable: true,
            }));
        }""",
        [name, kind, list(content)],
    )


def expect_ready(page: Page, *names: str) -> None:
    tray = page.get_by_role("list", name="Files to send")
    for name in names:
        expect(tray.get_by_role("progressbar", name=f"{name} uploaded")).to_be_visible()


def test_a_picture_attached_by_button_is_seen_live_opens_full_size_and_survives_a_reload(pair):
    alice, bob = pair
    with alice.expect_file_chooser() as chooser:
        alice.get_by_role("button", name="Attach files").click()
    chooser.value.set_files(
        [
            {"name": "beach.png", "mimeType": "image/png", "buffer": PICTURE},
            {"name": "plan.txt", "mimeType": "text/plain", "buffer": b"day 1: the beach"},
        ]
    )
    expect_ready(alice, "beach.png", "plan.txt")
    # The tray's bars and buttons have names: axe-core finds nothing to fault.
    results = Axe().run(alice)
    assert results.violations_count == 0, results.generate_report()
    alice.get_by_label("Message", exact=True).fill("Our beach")
    alice.get_by_role("button", name="Send").click()
    expect_all_sent(alice)
    expect(alice.get_by_role("list", name="Files to send")).to_be_hidden()

    expect_loaded(picture(bob, "beach.png"))
    card = file_card(bob, "plan.txt")
    # Thumbnails and cards too (the log's own day separators are the workspace's to fix).
    results = Axe().run(bob, context="[data-message-attachments]")
    assert results.violations_count == 0, results.generate_report()
    expect(card).to_contain_text("16 bytes · text/plain")
    expect(messages(bob).filter(has_text="Our beach")).to_have_count(1)

    full = bob.get_by_role("link", name="beach.png (open full size)")
    response = bob.request.get(full.get_attribute("href"))
    assert (response.status, response.headers["content-type"]) == (200, "image/png")
    with bob.expect_download() as download:
        card.click()
    assert download.value.suggested_filename == "plan.txt"

    bob.reload()
    wait_connected(bob)
    expect_loaded(picture(bob, "beach.png"))
    expect(file_card(bob, "plan.txt")).to_be_visible()


def test_dropped_and_pasted_files_arrive_and_a_removed_member_loses_them(pair):
    alice, bob = pair
    drop_files(
        alice,
        [
            ("sunset.png", "image/png", PICTURE),
            ("tickets.pdf", "application/pdf", b"%PDF-1.4 two tickets"),
        ],
    )
    expect_ready(alice, "sunset.png", "tickets.pdf")
    alice.get_by_label("Message", exact=True).press("Enter")  # files alone make a message
    expect_loaded(picture(bob, "sunset.png"))
    expect(bob.get_by_role("link", name=re.compile("Trip"))).to_contain_text(
        "Alice Archer: Shared a file"
    )
    expect(file_card(bob, "tickets.pdf")).to_contain_text("application/pdf")

    paste_file(bob, "screenshot.png", "image/png", PICTURE)
    expect_ready(bob, "screenshot.png")
    bob.get_by_label("Message", exact=True).fill("pasted")
    bob.get_by_label("Message", exact=True).press("Enter")
    expect_loaded(picture(alice, "screenshot.png"))

    urls = [
        bob.get_by_role("link", name="sunset.png (open full size)").get_attribute("href"),
        file_card(bob, "tickets.pdf").get_attribute("href"),
        picture(bob, "sunset.png").get_attribute("src"),
    ]
    assert all(bob.request.get(url).status == 200 for url in urls)

    alice.get_by_role("button", name="Remove bob").click()
    expect(bob.get_by_role("alert")).to_contain_text("You were removed from this room")
    assert [bob.request.get(url).status for url in urls] == [404, 404, 404]
    assert bob.goto(urls[0]).status == 404
    assert re.search(r"/files/\d+/", urls[0])
