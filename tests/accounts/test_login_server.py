"""Log-ins against the real server process: X-Forwarded-For counts only from a named proxy."""

import http.client
import re
import uuid
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from tests.conftest import LiveServer
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

THROTTLED = "Too many failed attempts; try again in"


@pytest.fixture
def start_server(server_env):
    """Start the server command with FORWARDED_ALLOW_IPS set to `proxies` (None: unset)."""
    servers = []

    def start(proxies: str | None) -> LiveServer:
        env = {**server_env, "REDIS_PREFIX": f"parley-login-{uuid.uuid4().hex}"}
        env.pop("FORWARDED_ALLOW_IPS", None)
        if proxies is not None:
            env["FORWARDED_ALLOW_IPS"] = proxies
        server = LiveServer(env)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def owner(make_user):
    """A user whose password the server process can check (the tests' own hasher is MD5)."""
    user = make_user()
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    return user


def log_in(
    server: LiveServer,
    username: str,
    password: str,
    *,
    source: str = "127.0.0.1",
    forwarded_for: str | None = None,
) -> tuple[int, str]:
    """Log in as a browser would (CSRF cookie and token) from the local address `source`."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request("GET", "/accounts/login/")
        page = connection.getresponse()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())[1]
        csrf_cookie = SimpleCookie(page.getheader("Set-Cookie"))["csrftoken"].value
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie}",
        }
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        form = {"username": username, "password": password, "csrfmiddlewaretoken": token}
        connection.request("POST", "/accounts/login/", urlencode(form), headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_forged_forwarded_for_cannot_lock_the_owner_out_of_the_real_server(start_server, owner):
    server = start_server(None)
    for index in range(6):
        status, _ = log_in(server, owner.username, "wrong", forwarded_for=f"198.51.100.{index}")
        assert status == 200

    attacker = log_in(server, owner.username, PASSWORD, forwarded_for="198.51.100.99")
    owner_elsewhere = log_in(server, owner.username, PASSWORD, source="127.0.0.2")

    assert THROTTLED in attacker[1]
    assert owner_elsewhere[0] == 302


def test_a_named_proxys_forwarded_for_is_the_client_address(start_server, owner):
    server = start_server("127.0.0.1")
    for _ in range(5):
        log_in(server, owner.username, "wrong", forwarded_for="198.51.100.7")

    attacker = log_in(server, owner.username, PASSWORD, forwarded_for="198.51.100.7")
    owner_behind_the_proxy = log_in(server, owner.username, PASSWORD, forwarded_for="203.0.113.8")

    assert THROTTLED in attacker[1]
    assert owner_behind_the_proxy[0] == 302
