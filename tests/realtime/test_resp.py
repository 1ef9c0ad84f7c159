"""realtime/resp: commands pipelined over one connection, failures reaching every caller."""

import asyncio
import uuid

import pytest
import redis
from redis.exceptions import ResponseError

from realtime import resp
from realtime.resp import Connection
from tests.conftest import TEST_REDIS_URL


@pytest.fixture
async def connection():
    opened = Connection(TEST_REDIS_URL)
    yield opened
    opened.close()


@pytest.fixture
def key() -> str:
    name = f"parley-test:resp:{uuid.uuid4().hex}"
    yield name
    redis.Redis.from_url(TEST_REDIS_URL).delete(name)


async def test_one_turns_commands_go_out_in_one_write_and_each_gets_its_own_reply(
    connection, key, monkeypatch
):
    await connection.execute("PING")  # connected
    writes = []
    write = connection.transport.write
    monkeypatch.setattr(
        connection.transport, "write", lambda data: (writes.append(data), write(data))
    )

    replies = await asyncio.gather(
        connection.execute("SET", key, "one"),
        connection.mget([key, f"{key}:none"]),
        connection.execute("INCR", key),  # an error reply: "one" is no integer
        connection.execute("GET", key),
        return_exceptions=True,
    )

    assert replies[:2] == [b"OK", [b"one", None]]
    assert isinstance(replies[2], ResponseError)
    assert replies[3] == b"one"
    assert len(writes) == 1


async def test_a_caller_that_goes_away_leaves_the_replies_in_order(connection, key):
    await connection.execute("PING")  # connected
    gone = asyncio.ensure_future(connection.execute("SET", key, "a"))
    staying = asyncio.ensure_future(connection.execute("GET", key))
    await asyncio.sleep(0)
    gone.cancel()
    assert await staying == b"a"
    assert await connection.execute("APPEND", key, "b") == 2


async def test_a_lost_connection_fails_what_waits_and_the_next_command_reconnects(connection, key):
    own_id = await connection.execute("CLIENT", "ID")
    blocked = asyncio.ensure_future(connection.execute("BLPOP", key, 10))
    await asyncio.sleep(0.1)

    redis.Redis.from_url(TEST_REDIS_URL).client_kill_filter(_id=own_id)  # as a restart would

    with pytest.raises(ConnectionError):
        await asyncio.wait_for(blocked, 5)
    assert await connection.execute("CLIENT", "ID") != own_id


async def test_a_refused_connection_is_a_connection_error():
    with pytest.raises(ConnectionError):
        await Connection("redis://127.0.0.1:1/0").execute("PING")  # nothing listens on port 1


@pytest.fixture
async def silent_redis(monkeypatch):
    """The address of a server that takes commands and never answers (a Redis stopped, or cut
    off without a reset), with replies expected within 0.2 s."""
    monkeypatch.setattr(resp, "REPLY_TIMEOUT", 0.2)
    connections = []

    async def swallow(reader, writer):
        connections.append(writer)
        while data := await reader.read(65536):
            if data.startswith(b"*3\r\n$4\r\nAUTH"):  # lets a log-in through, then is silent
                writer.write(b"+OK\r\n")

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in connections:
        writer.close()
    server.close()


async def test_a_redis_that_stops_answering_fails_what_waits_and_the_next_command_too(
    silent_redis,
):
    connection = Connection(f"redis://127.0.0.1:{silent_redis}/0")
    first = asyncio.ensure_future(connection.execute("PING"))
    second = asyncio.ensure_future(connection.mget(["a", "b"]))
    for waiting in (first, second):
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(waiting, 3)
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(connection.execute("PING"), 3)


async def test_a_redis_that_stops_answering_after_the_log_in_fails_what_waits(silent_redis):
    connection = Connection(f"redis://user:secret@127.0.0.1:{silent_redis}/0")
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(connection.execute("PING"), 3)


async def test_a_log_in_that_is_never_answered_is_a_connection_error(silent_redis):
    connection = Connection(f"redis://user:secret@127.0.0.1:{silent_redis}/2")  # SELECT unanswered
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(connection.execute("PING"), 3)
    assert connection.transport is None


async def test_the_addresss_database_user_and_password_are_used(key):
    admin = redis.Redis.from_url(TEST_REDIS_URL)
    user = f"parley-test-{uuid.uuid4().hex[:8]}"
    admin.execute_command("ACL", "SETUSER", user, "on", ">secret", "~*", "+@all")
    try:
        other_db = Connection(f"redis://{user}:secret@127.0.0.1:6379/3")
        await other_db.execute("SET", key, "in 3")
        other_db.close()
        assert redis.Redis.from_url("redis://127.0.0.1:6379/3").get(key) == b"in 3"
        assert admin.get(key) is None or TEST_REDIS_URL.endswith("/3")

        refused = Connection(f"redis://{user}:wrong@127.0.0.1:6379/3")
        with pytest.raises(ResponseError):
            await refused.execute("PING")
        refused.close()
    finally:
        admin.execute_command("ACL", "DELUSER", user)
        redis.Redis.from_url("redis://127.0.0.1:6379/3").delete(key)


async def test_each_loop_and_address_has_one_connection():
    assert resp.connection(TEST_REDIS_URL) is resp.connection(TEST_REDIS_URL)
    assert resp.connection(TEST_REDIS_URL) is not resp.connection("redis://127.0.0.1:6379/3")
