"""Browser tests: Debian's Chromium (driven by Playwright) against the production server process.

Each test gets a fresh database (transaction=True); the server process reads the same test
database and shares one Redis (with a prefix of its own) as its channel layer."""

import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client

from scripts.dev import ROOT, server_command, wait_for_port
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_for_server() -> str:
    """The URL of the database pytest-django created, for the server process."""
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or ""
    name = quote(db["NAME"], safe="")
    if host.startswith("/"):  # a Unix socket directory (the embedded PostgreSQL)
        return f"postgresql://{credentials}/{name}?host={quote(host, safe='/')}"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{credentials}{host}{port}/{name}"


class LiveServer:
    """The production server command, run as a child process on a fixed port."""

    def __init__(self, env: dict[str, str], port: int | None = None):
        self.env = env
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix=f"parley-e2e-{self.port}-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                server_command("127.0.0.1", self.port),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if not wait_for_port("127.0.0.1", self.port, 30):
            self.stop()
            raise RuntimeError(f"the server did not start; its log:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the port is free again before a restart
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.1)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="package")
def server_env(django_db_setup) -> dict[str, str]:
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        pytest.fail("the browser tests need Redis: set TEST_REDIS_URL (scripts/dev.py test does)")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PYTEST_", "DATABASE_", "REDIS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url_for_server(),
        REDIS_URL=redis_url,
        REDIS_PREFIX=f"parley-e2e-{uuid.uuid4().hex[:12]}",
        DEBUG="1",
        SECURE="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CHAT_RATE_PER_SECOND="0",
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        LOG_LEVEL="WARNING",
    )
    return env


@pytest.fixture(scope="package")
def live_server_process(server_env) -> Iterator[LiveServer]:
    server = LiveServer(server_env)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def live_url(live_server_process, transactional_db) -> str:
    """The server's base URL; the test's data is committed, so the server sees it."""
    return live_server_process.url


@pytest.fixture
def make_server(server_env) -> Iterator:
    """Start more server processes (same database and Redis), stopped at the end of the test."""
    started = []

    def start() -> LiveServer:
        server = LiveServer(server_env)
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

    def context(self, viewport=DESKTOP, base_url: str | None = None):
        context = self.browser.new_context(
            base_url=base_url or self.base_url, viewport=viewport, locale="en-GB"
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

    def page_for(self, user, *, viewport=DESKTOP, base_url: str | None = None):
        """A page of a new context in which `user` is logged in (a session made in the database)."""
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context = self.context(viewport=viewport, base_url=base_url)
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
