"""What a person sees and does on Parley's pages, in the words of the page (roles and names)."""

import re

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import SEEN_WITHIN_MS


def messages(page: Page) -> Locator:
    """The messages shown in the chat log, pending ones included (not the lines saying who
    joined or left)."""
    return (
        page.get_by_role("log", name="Conversation")
        .get_by_role("listitem")
        .and_(page.locator(".message"))
    )


def bodies(page: Page) -> list[str]:
    return messages(page).locator(".message-body").all_text_contents()


def wait_connected(page: Page) -> None:
    expect(page.get_by_role("status").filter(has_text="Connected")).to_be_visible()


def open_chat(page: Page, path: str) -> None:
    """Open a chat as a person would: opening a page changes nothing, so the first visit to a
    public room clicks Join, and to a direct chat nobody has started clicks Start conversation."""
    page.goto(path)
    first_visit = page.get_by_role("button", name=re.compile(r"^(Join room|Start conversation)$"))
    if first_visit.count():
        first_visit.click()
    wait_connected(page)


def send_with_enter(page: Page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def send_with_button(page: Page, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def stored_message(page: Page, text: str) -> Locator:
    """The stored (no longer pending) messages whose body is exactly `text`."""
    body = page.locator(".message-body").filter(has_text=re.compile(rf"^{re.escape(text)}$"))
    return messages(page).and_(page.locator(".message:not(.pending)")).filter(has=body)


def expect_message(page: Page, text: str, timeout: int = SEEN_WITHIN_MS) -> None:
    """`text` is shown once, as a stored message, within `timeout` ms."""
    expect(stored_message(page, text)).to_have_count(1, timeout=timeout)


def expect_all_sent(page: Page) -> None:
    expect(page.locator(".message.pending")).to_have_count(0)


class ReceivedFrames:
    """Every WebSocket frame the server sends to a page (attach before the page navigates)."""

    def __init__(self, page: Page):
        self.frames: list[str] = []
        page.on("websocket", self._watch)

    def _watch(self, socket) -> None:
        socket.on("framereceived", lambda payload: self.frames.append(str(payload)))

    def mentioning(self, text: str) -> list[str]:
        return [frame for frame in self.frames if text in frame]


def seqs(page: Page) -> list[int]:
    """The room sequence numbers of the shown messages, top to bottom."""
    return [int(seq) for seq in messages(page).evaluate_all("els => els.map(e => e.dataset.seq)")]
