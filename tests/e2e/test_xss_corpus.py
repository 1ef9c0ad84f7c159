"""The XSS corpus (tests/xss_corpus.py) through the page in Chromium: every body is stored through
the service and shown in a room, from the history and live; nothing may run. A script that ran
would call window.__xss, open a dialog, or break the Content-Security-Policy (a violation
event); a MutationObserver fails the test as soon as a script element, an on* handler, or a link
or source with another scheme than http(s)/mailto reaches the conversation's DOM, even if the
policy would have stopped it."""

import uuid

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import Room
from tests.conftest import in_a_thread
from tests.e2e.pages import messages, open_chat, send_with_enter
from tests.factories import UserFactory, make_room
from tests.xss_corpus import CORPUS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Installed before any of the page's own scripts: the sentinel and the watchers.
WATCH = """
window.__xssHits = [];
window.__xss = (n) => window.__xssHits.push(`ran: case ${n}`);
const report = (what) => window.__xssHits.push(what);
document.addEventListener("securitypolicyviolation", (event) =>
  report(`csp: ${event.violatedDirective} ${event.sample}`));
const SAFE_URL = /^(https?:|mailto:)/i;
function inspect(node) {
  if (node.nodeType !== Node.ELEMENT_NODE || !node.closest("[data-messages]")) return;
  for (const element of [node, ...node.querySelectorAll("*")]) {
    const tag = element.tagName.toLowerCase();
    if (["script", "iframe", "object", "embed", "img", "svg", "math", "style", "link", "meta",
         "base", "form", "input", "video", "audio", "source", "frame", "frameset"].includes(tag)
        && !element.classList.contains("avatar")) {
      report(`element: ${tag}`);
    }
    for (const attribute of element.attributes) {
      const name = attribute.name.toLowerCase();
      if (name.startsWith("on")) report(`handler: ${tag} ${name}`);
      if (["href", "src", "action", "formaction", "xlink:href", "data"].includes(name)
          && !(tag === "img" && element.classList.contains("avatar"))
          && !SAFE_URL.test(attribute.value.trim())) {
        report(`url: ${tag} ${name}=${attribute.value}`);
      }
      if (name === "style") report(`style: ${tag}`);
    }
  }
}
new MutationObserver((records) => {
  for (const record of records) {
    if (record.type === "attributes") inspect(record.target);
    for (const node of record.addedNodes) inspect(node);
  }
}).observe(document, { subtree: true, childList: true, attributes: true });
document.addEventListener("DOMContentLoaded", () =>
  document.querySelectorAll("[data-messages]").forEach(inspect));
"""


def post_corpus(author, room, corpus) -> None:
    """Store through the service, in a thread of its own: Playwright's loop owns this one."""

    def post() -> None:
        for body in corpus:
            services.message_post(author=author, room_id=room.id, body=body, client_id=uuid.uuid4())

    in_a_thread(post, timeout=60)


def test_the_xss_corpus_never_runs_in_the_page(people):
    mallory = UserFactory(username="x")  # "@x" in the corpus is a real mention
    bob = UserFactory(username="bob")
    room = make_room(Room.Kind.PRIVATE, mallory, bob, name="Corpus")
    half = len(CORPUS) // 2
    # The first half is in the history when the page opens, the second arrives live.
    post_corpus(mallory, room, CORPUS[:half])

    page = people.page_for(bob)
    page.add_init_script(WATCH)
    open_chat(page, f"/chat/r/{room.slug}/")
    expect(messages(page)).to_have_count(half)

    mallory_page = people.page_for(mallory)
    mallory_page.add_init_script(WATCH)
    open_chat(mallory_page, f"/chat/r/{room.slug}/")
    for body in CORPUS[half:]:
        send_with_enter(mallory_page, body)
    expect(messages(page).and_(page.locator(".message:not(.pending)"))).to_have_count(
        len(CORPUS), timeout=20_000
    )
    expect(mallory_page.locator(".message.pending")).to_have_count(0, timeout=20_000)

    # Hover every message once, so that mouse handlers would have fired.
    for shown in (page, mallory_page):
        for body in shown.locator(".message-body").all():
            body.hover(timeout=1000, force=True)
        shown.wait_for_timeout(300)
        assert shown.evaluate("window.__xssHits") == []
    assert people.dialogs == []
    # The corpus' harmless links stayed links, with the house rel.
    links = page.locator(".message-body a")
    assert links.count() > 0
    for rel in links.evaluate_all("links => links.map(a => a.rel + ' ' + a.target)"):
        assert rel == "noopener noreferrer nofollow ugc _blank"
