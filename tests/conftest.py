"""Fixtures for every test; live_url starts the production server process for the tests that
talk to it over the network (browser, plain socket client, API contract).

Each such test gets a fresh database (transaction=True); the server process reads the same test
database and shares one Redis (with a prefix of its own) as its channel layer."""

import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.test import override_settings

from scripts.dev import ROOT, server_command, wait_for_port
from tests.factories import UserFactory

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
# What a PostgreSQL restart or an idle-connection killer does to the servers' pools: every backend
# of the test database cut, but the test process's own (named in config/settings_test.py).
TERMINATE_SERVER_BACKENDS = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND application_name <> %s"
)


def pytest_collection_modifyitems(items):
    """The browser tests last (after pytest-django's ordering by database use): Playwright's sync
    API leaves its event loop running on the main thread for the rest of the session, and an async
    test cannot start one of its own there."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def make_user(db):
    return UserFactory


REDIS_LAYERS = {
    "redis": "channels_redis.core.RedisChannelLayer",
    "pubsub": "realtime.layers.LeanPublishingPubSubChannelLayer",
}


@pytest.fixture(params=["memory", "redis", "pubsub"])
def channel_layer(request, settings):
    """Run a test with the in-memory channel layer and with both channels-redis layers."""
    from channels.layers import channel_layers

    if request.param in REDIS_LAYERS:
        if not TEST_REDIS_URL:
            pytest.skip("no Redis for the tests (TEST_REDIS_URL unset)")
        prefix = f"parley-test-{os.getpid()}"
        layers = {
            "default": {
                "BACKEND": REDIS_LAYERS[request.param],
                "CONFIG": {
                    "hosts": [{"address": TEST_REDIS_URL, "socket_timeout": None}],
                    "prefix": prefix,
                    "capacity": settings.CHANNEL_CAPACITY,
                },
            }
        }
    else:
        layers = {
            "default": {
                "BACKEND": "realtime.layers.OverflowAwareInMemoryChannelLayer",
                "CONFIG": {"capacity": settings.CHANNEL_CAPACITY},
            }
        }
    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()
        yield request.param
        channel_layers.backends.clear()


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
                server_command("127.0.0.1", self.port, env=self.env),
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
        pytest.fail(
            "the live-server tests need Redis: set TEST_REDIS_URL (scripts/dev.py test does)"
        )
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
        ATTACHMENT_ROOT=str(settings.ATTACHMENT_ROOT),
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
def live_url(live_server_process, transactional_db) -> Iterator[str]:
    """The server's base URL; the test's data is committed, so the server sees it.

    The server goes on writing for a moment after a test (a closed browser's sockets record
    last-seen and read positions), and a write racing the flush's TRUNCATE can deadlock it, which
    would leave this test's rows to the next. So the data is flushed here first, once the
    server's connections are quiet, and again if PostgreSQL made the flush the deadlock's
    victim."""
    yield live_server_process.url
    flush_when_quiet()


def flush_when_quiet(attempts: int = 5) -> None:
    from django.core.management import call_command
    from django.db import OperationalError, connection

    for attempt in range(attempts):
        wait_until_other_connections_are_idle(connection)
        try:
            # As pytest-django's own flush: ids go on rising, so state a server process keeps
            # by id (presence in Redis) never passes to the next test's people.
            call_command("flush", interactive=False, verbosity=0, reset_sequences=False)
            return
        except Exception as error:  # flush wraps the OperationalError in a CommandError
            cause = error.__cause__ or error
            if not isinstance(cause, OperationalError) or attempt == attempts - 1:
                raise


def wait_until_other_connections_are_idle(connection, timeout: float = 5.0) -> None:
    """Until no other connection to this database has been busy for three polls in a row."""
    quiet_polls = 0
    deadline = time.monotonic() + timeout
    while quiet_polls < 3 and time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state NOT IN ('idle')"
            )
            busy = cursor.fetchone()[0]
        quiet_polls = 0 if busy else quiet_polls + 1
        time.sleep(0.05)


def in_a_thread(function, *args, timeout: float | None = None):
    """`function(*args)` called in a thread of its own: after the browser tests Playwright's
    event loop owns the main thread, where neither asyncio.run nor ORM code that publishes
    (async_to_sync) may run."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result(timeout=timeout)
