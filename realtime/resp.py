"""A lean Redis connection for the two commands of the hot path: the revocation markers that every
socket frame checks (MGET) and the events that every message publishes (PUBLISH).

redis-py's asyncio client wraps each command in about 60 µs of Python (a pool checkout and
return, retry and timeout wrappers, a health check, its observability hooks) around a reply
that hiredis parses in C, and writes each command with a system call of its own. Here an event
loop holds one connection per Redis address; the commands made in one turn of the loop go out
in one write, in the order they were made, and each reply answers the oldest command waiting
for one (Redis answers in order). A connection that fails, or leaves a command unanswered for
REPLY_TIMEOUT, fails every command waiting on it (each caller has its fallback: a socket
re-checks in full, a publish retries), and the next command opens a new one."""

import asyncio
import ssl
from collections import deque

import hiredis
from redis.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.exceptions import ResponseError

# Seconds a command, or opening the connection, may wait for Redis: one stopped, or cut off
# without a reset, fails its callers rather than holding every socket frame and send for ever.
REPLY_TIMEOUT = 5.0


class _Protocol(asyncio.Protocol):
    def __init__(self, connection: "Connection"):
        self.connection = connection
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.connection._received(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection._lost(self, exc)


class Connection:
    """Commands to one Redis address, pipelined over one connection (opened when first needed,
    and again after a failure)."""

    def __init__(self, url: str):
        self.url = url
        self.options = parse_url(url)
        self.transport: asyncio.Transport | None = None
        self.protocol: _Protocol | None = None
        self.reader: hiredis.Reader | None = None
        self.waiting: deque[asyncio.Future] = deque()  # one per command sent, oldest first
        self.unsent: list[bytes] = []  # this turn's commands, written together at its end
        # Commands written and replies read on this connection: a write's timer compares them.
        self.written = self.answered = 0
        self.opening = asyncio.Lock()

    async def execute(self, *args):
        """The reply to one command; raises ConnectionError when the connection failed, and
        redis-py's ResponseError for an error reply."""
        if self.transport is None:
            async with self.opening:
                if self.transport is None:
                    await self._open()
        return await self._send(hiredis.pack_command(args))

    async def mget(self, keys: list[str]) -> list[bytes | None]:
        return await self.execute("MGET", *keys)

    async def publish(self, channel: str, data: bytes) -> int:
        return await self.execute("PUBLISH", channel, data)

    def _send(self, command: bytes) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        reply = loop.create_future()
        self.waiting.append(reply)
        if not self.unsent:
            loop.call_soon(self._write)
        self.unsent.append(command)
        return reply

    def _write(self) -> None:
        commands, self.unsent = self.unsent, []
        if self.transport is None:  # their replies failed with the connection
            return
        self.transport.write(b"".join(commands))
        self.written += len(commands)
        asyncio.get_running_loop().call_later(
            REPLY_TIMEOUT, self._expire, self.protocol, self.written
        )

    def _expire(self, protocol: _Protocol, written: int) -> None:
        """A write's timer: its commands still unanswered fail the connection."""
        if protocol is self.protocol and self.answered < written:
            protocol.transport.abort()  # connection_lost fails what waits

    async def _open(self) -> None:
        try:
            async with asyncio.timeout(REPLY_TIMEOUT):
                await self._connect()
        except TimeoutError:
            raise ConnectionError(f"Redis did not answer within {REPLY_TIMEOUT} s") from None

    async def _connect(self) -> None:
        options = self.options
        loop = asyncio.get_running_loop()
        protocol = lambda: _Protocol(self)  # noqa: E731
        if options.get("connection_class") is UnixDomainSocketConnection:
            transport, self.protocol = await loop.create_unix_connection(protocol, options["path"])
        else:
            tls = (
                ssl.create_default_context()
                if options.get("connection_class") is SSLConnection
                else None
            )
            transport, self.protocol = await loop.create_connection(
                protocol, options.get("host", "localhost"), options.get("port", 6379), ssl=tls
            )
        self.reader = hiredis.Reader(replyError=ResponseError)
        self.answered = 0
        # Log in and choose the database before anything else is sent: commands made meanwhile
        # wait for the lock, and see no transport until then.
        handshake = []
        if options.get("password"):
            credentials = [options["username"]] if options.get("username") else []
            handshake.append(("AUTH", *credentials, options["password"]))
        if options.get("db"):
            handshake.append(("SELECT", options["db"]))
        replies = [loop.create_future() for _ in handshake]
        self.waiting.extend(replies)
        transport.write(b"".join(hiredis.pack_command(command) for command in handshake))
        self.written = len(handshake)
        try:
            for reply in replies:
                await reply
        except BaseException:  # refused, unanswered, or the caller went away: no half-made one
            for reply in replies:
                reply.cancel()  # (those after a refusal: nobody reads them)
            transport.abort()
            raise
        self.transport = transport

    def _received(self, protocol: _Protocol, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError:
                protocol.transport.abort()  # connection_lost fails what waits
                return
            if reply is False:
                return
            self.answered += 1
            waiter = self.waiting.popleft()
            if waiter.done():  # its caller went away
                continue
            if isinstance(reply, ResponseError):
                waiter.set_exception(reply)
            else:
                waiter.set_result(reply)

    def _lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is not self.protocol:  # an earlier connection's end, told late
            return
        self.transport = self.protocol = self.reader = None
        self.unsent = []
        waiting, self.waiting = self.waiting, deque()
        error = f"lost the connection to Redis ({exc or 'ended'})"
        for waiter in waiting:
            if not waiter.done():
                waiter.set_exception(ConnectionError(error))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


_connections: dict[tuple[asyncio.AbstractEventLoop, str], Connection] = {}


def connection(url: str) -> Connection:
    """The running event loop's connection to `url` (one per server process and address)."""
    loop = asyncio.get_running_loop()
    found = _connections.get((loop, url))
    if found is None:
        for stale in [key for key in _connections if key[0].is_closed()]:
            del _connections[stale]
        found = _connections[(loop, url)] = Connection(url)
    return found
