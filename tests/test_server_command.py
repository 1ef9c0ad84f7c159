"""The production server command: X-Forwarded-For trusted only from the proxies in
FORWARDED_ALLOW_IPS, sockets without compression, and the log level of LOG_LEVEL."""

from uvicorn.main import main as uvicorn_cli

from scripts.dev import server_command


def uvicorn_options(command: list[str]) -> dict:
    """The options Uvicorn's own command line parser reads from `command`."""
    args = command[command.index("uvicorn") + 1 :]
    return uvicorn_cli.make_context("uvicorn", args).params


def test_server_trusts_no_forwarded_headers_without_forwarded_allow_ips(monkeypatch):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)

    options = uvicorn_options(server_command("127.0.0.1", 8000))

    assert options["proxy_headers"] is False


def test_an_empty_forwarded_allow_ips_trusts_no_one(monkeypatch):
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", " ")

    options = uvicorn_options(server_command("127.0.0.1", 8000))

    assert options["proxy_headers"] is False


def test_server_trusts_forwarded_headers_only_from_the_named_proxies(monkeypatch):
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5,10.1.0.0/16")

    options = uvicorn_options(server_command("127.0.0.1", 8000))

    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == "10.0.0.5,10.1.0.0/16"


def test_the_server_offers_no_per_message_compression():
    """A browser that negotiates compression would hold a compressor for the socket's life, and
    could not be written the bytes shared by every recipient of a frame."""
    options = uvicorn_options(server_command("127.0.0.1", 8000))

    assert options["ws_per_message_deflate"] is False
    assert options["ws"] == "websockets-sansio"  # the protocol realtime/wire.py writes through


def test_log_level_governs_the_servers_own_lines(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    assert uvicorn_options(server_command("127.0.0.1", 8000))["log_level"] == "warning"

    monkeypatch.delenv("LOG_LEVEL")
    assert uvicorn_options(server_command("127.0.0.1", 8000))["log_level"] == "info"


def test_the_command_is_for_the_environment_the_server_will_run_in(monkeypatch):
    """A harness that starts servers in an environment of their own (the tests', the bench's)
    gets the command for that environment, not its own."""
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    env = {"LOG_LEVEL": "ERROR", "FORWARDED_ALLOW_IPS": "10.0.0.5"}

    options = uvicorn_options(server_command("127.0.0.1", 8000, env=env))

    assert options["log_level"] == "error"
    assert options["forwarded_allow_ips"] == "10.0.0.5"
