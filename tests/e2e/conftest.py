"""Browser tests: Debian's Chromium (driven by Playwright) against the production server process
(started by tests/conftest.py's live_url)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client

from tests.conftest import LiveServer
from tests.factories import PASSWORD, UserFactory

CHROMIUM = Path(os.environ.get("PARLEY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
SKIP_MESSAGE = (
    "BROWSER TESTS SKIPPED: install Debian's chromium (apt-get install chromium) to run tests/e2e"
)
E2E_DIR = Path(__file__).resolve().parent
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

# How long a person would wait for something to show up on the page.
SEEN_WITHIN_MS = 2000


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=SKIP_MESSAGE)
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if not CHROMIUM.exists():
        terminalreporter.write_sep("!", SKIP_MESSAGE, red=True, bold=True)


@pytest.fixture
def make_server(server_env) -> Iterator:
    """Start more server processes (same database and Redis, settings changed by keyword),
    stopped at the end of the test."""
    started = []

    def start(**settings_changed: str) -> LiveServer:
        server = LiveServer({**server_env, **settings_changed})
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright launches Debian's Chromium, never a downloaded browser."""
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session", autouse=True)
def _orm_beside_playwright():
    """Playwright's sync API keeps an event loop running in this thread, so Django would take
    the tests' own (synchronous) ORM calls, and the test database's set-up and teardown, for
    async code. Set first and undone last, so it spans the browser's whole life."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


class People:
    """Opens one browser context per person, as if each sat at their own computer."""

    def __init__(self, browser, base_url: str):
        self.browser = browser
        self.base_url = base_url
        self.contexts = []
        self.dialogs: list[str] = []

    def context(self, viewport=DESKTOP, base_url: str | None = None, color_scheme="light"):
        context = self.browser.new_context(
            base_url=base_url or self.base_url,
            viewport=viewport,
            locale="en-GB",
            color_scheme=color_scheme,
        )
        context.set_default_timeout(10_000)
        context.on("page", self._watch_page)
        self.contexts.append(context)
        return context

    def _watch_page(self, page):
        def on_dialog(dialog):
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)

    def page_for(
        self, user, *, viewport=DESKTOP, base_url: str | None = None, color_scheme="light"
    ):
        """A page of a new context in which `user` is logged in (a session made in the database)."""
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context = self.context(viewport=viewport, base_url=base_url, color_scheme=color_scheme)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": cookie.value,
                    "domain": "127.0.0.1",
                    "path": "/",
                    "httpOnly": True,
                    "sameSite": "Lax",
                }
            ]
        )
        return context.new_page()

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def people(browser, live_url) -> Iterator[People]:
    crowd = People(browser, live_url)
    yield crowd
    crowd.close()


def user_who_logs_in(username: str, first_name: str, last_name: str):
    """A user whose password the production server can check (the tests' own hasher is MD5)."""
    user = UserFactory(username=username, first_name=first_name, last_name=last_name)
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    user.save(update_fields=["password"])
    return user
