"""Faults, injected in turn while messages flow: two production server processes whose channel
layer is sharded over two Redis servers of this test's own (the first also holds the cache, rate
limits and socket counts), one test database, and plain socket clients that follow
docs/protocol.md. After each fault every receiver must show every stored message exactly once and
in order within RECOVERY_BOUND seconds of the fault ending, nothing acknowledged may be missing
from the database, no request may end in an HTTP 500, and the socket counts must be right."""

import asyncio
import json
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise

import psycopg
import pytest
import redis
from django.conf import settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from accounts.services import api_token_create
from chat import presence
from chat.models import Membership, Room
from tests.conftest import TERMINATE_SERVER_BACKENDS, LiveServer, free_port, in_a_thread
from tests.factories import UserFactory, make_room
from tests.faults.conftest import REDIS_SERVER, SKIP_MESSAGE, TABLES

pytestmark = [
    pytest.mark.skipif(not REDIS_SERVER, reason=SKIP_MESSAGE),
    pytest.mark.django_db(transaction=True),
]

RATE = 20  # messages per second, all senders together
BURST_FACTOR = 10
RECOVERY_BOUND = 2.0  # seconds from a fault's end until every receiver shows every message
SOCKET_TTL = 3  # CHAT_SOCKET_TTL of the servers: a killed process's counts expire this fast
RECEIVER_USERS = 3  # each with one socket homed on each server
SENDERS = 4  # homed on the servers in turn
OUTAGE = 1.0  # seconds a killed Redis stays down
# What a server log shows of a request that ended in a 500 (the access log is off).
HTTP_500_MARKS = (" 500 ", "Internal Server Error", "Exception in ASGI application")


class RedisServer:
    """A redis-server of the test's own on a free port, to kill and restart on that port."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--daemonize", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=0.5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


class ProtocolClient:
    """A client that behaves exactly as docs/protocol.md says, and records what it showed.

    It relies on: `hello.rooms[].last_pos`; every event frame of a room (`message`,
    `message.updated`, `member.*`) carrying `room` and `pos`; `message` frames with
    `message.seq`, `message.id`, `message.client_id`, `message.author.id`; `sync {after: pos}`
    answered with `room`, `events`, `last_pos` and `has_more`; `room.stale` with `room`;
    `error` frames with `code`, `retry_after` and, for a send, `client_id`."""

    def __init__(self, name: str, user_id: int, key: str, urls: list[str], rooms: list[int]):
        self.name, self.user_id, self.urls = name, user_id, urls
        self.headers = {"Authorization": f"Bearer {key}"}
        self.pos = dict.fromkeys(rooms, 0)  # per room, the last position applied
        self.last = dict.fromkeys(rooms, 0)  # per room, the highest seq shown
        self.shown: dict[int, list[tuple[int, int]]] = {room: [] for room in rooms}  # (seq, id)
        self.shown_ids: dict[int, set[int]] = {room: set() for room in rooms}
        self.pending: dict[str, tuple[int, str]] = {}  # unconfirmed sends: room and body
        self.acked: set[str] = set()
        self.socket = None
        self.url: str | None = None
        self.syncing: set[int] = set()  # a sync is in flight for these rooms
        self.sync_again: set[int] = set()
        self.http_5xx: list[int] = []
        self.unexpected: list[dict] = []
        self.errors: Counter[str] = Counter()  # why connections ended, by exception type
        self.other: Counter[str] = Counter()  # frames of other types, by type
        self.stopping = False
        self.task: asyncio.Task | None = None
        self.tasks: set[asyncio.Task] = set()

    @property
    def home(self) -> str:
        return self.urls[0]

    def start(self) -> None:
        self.task = asyncio.ensure_future(self.run())

    def spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        self.stopping = True
        if self.socket is not None:
            await self.socket.close()
        await self.task

    async def run(self) -> None:
        """Connect, and on a closed socket reconnect with backoff, the home server first and
        then the other in turn."""
        attempt = 0
        while not self.stopping:
            url = self.urls[attempt % len(self.urls)]
            try:
                async with connect(
                    url, additional_headers=self.headers, open_timeout=3, close_timeout=1
                ) as socket:
                    hello = json.loads(await socket.recv())
                    assert hello["type"] == "hello", hello
                    attempt = 0
                    self.socket, self.url = socket, url
                    await self.on_hello(hello)
                    async for text in socket:
                        await self.on_frame(json.loads(text))
            except InvalidStatus as refused:
                if refused.response.status_code >= 500:
                    self.http_5xx.append(refused.response.status_code)
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as error:
                self.errors[type(error).__name__] += 1
            finally:
                self.socket = None
                self.syncing.clear()
                self.sync_again.clear()
            if not self.stopping:
                attempt += 1
                await asyncio.sleep(min(0.05 * 2 ** (attempt // 2), 0.5) * random.uniform(0.5, 1))

    async def on_hello(self, hello: dict) -> None:
        """Sync every room whose last position is past ours; resend what is unconfirmed."""
        for room in hello["rooms"]:
            if room["id"] in self.pos and room["last_pos"] > self.pos[room["id"]]:
                await self.sync(room["id"])
        for client_id in list(self.pending):
            await self.send_post(client_id)

    async def on_frame(self, frame: dict) -> None:
        kind = frame["type"]
        if kind == "sync":
            room = frame["room"]
            self.syncing.discard(room)
            for event in frame["events"]:
                self.apply(room, event)
            self.pos[room] = max(self.pos[room], frame["last_pos"])
            if frame["has_more"] or room in self.sync_again:
                self.sync_again.discard(room)
                await self.sync(room)
        elif "pos" in frame:
            self.offer(frame)
        elif kind == "room.stale":
            await self.sync(frame["room"])
        elif kind == "error":
            await self.on_error(frame)
        else:
            self.other[kind] += 1

    def offer(self, event: dict) -> None:
        """Apply a live event if it is the next position; on a gap, sync."""
        room, pos = event["room"], event["pos"]
        if event["type"] == "message":
            self.confirm(event["message"])
        if room not in self.pos:
            return  # a room this client does not follow
        if pos == self.pos[room] + 1:
            self.pos[room] = pos
            self.apply(room, event)
        elif pos > self.pos[room] + 1:
            self.spawn(self.sync(room))

    def apply(self, room: int, event: dict) -> None:
        """Show a message new to this client (the test edits nothing, so no other change)."""
        if event["type"] != "message":
            return
        message = event["message"]
        self.confirm(message)
        if message["id"] not in self.shown_ids[room]:
            self.shown_ids[room].add(message["id"])
            self.shown[room].append((message["seq"], message["id"]))
            self.last[room] = max(self.last[room], message["seq"])

    def confirm(self, message: dict) -> None:
        if message["author"]["id"] == self.user_id and message["client_id"] in self.pending:
            del self.pending[message["client_id"]]
            self.acked.add(message["client_id"])

    async def sync(self, room: int) -> None:
        if room not in self.pos:
            return
        if room in self.syncing:
            self.sync_again.add(room)
            return
        if await self.send_frame({"type": "sync", "room": room, "after": self.pos[room]}):
            self.syncing.add(room)

    async def on_error(self, frame: dict) -> None:
        """Retryable errors: a send is resent with its client_id, and syncs are asked again,
        after retry_after."""
        if frame["code"] not in {"unavailable", "rate_limited", "internal"}:
            self.unexpected.append(frame)
            return
        delay = frame.get("retry_after", 1)
        asyncio.get_running_loop().call_later(delay, lambda: self.spawn(self.retry(frame)))

    async def retry(self, frame: dict) -> None:
        client_id = frame.get("client_id")
        if client_id in self.pending:
            await self.send_post(client_id)
        if client_id is None or frame["code"] == "unavailable":
            self.syncing.clear()
            for room in self.pos:
                await self.sync(room)

    def post(self, room: int, body: str) -> str:
        client_id = str(uuid.uuid4())
        self.pending[client_id] = (room, body)
        self.spawn(self.send_post(client_id))
        return client_id

    async def send_post(self, client_id: str) -> None:
        room, body = self.pending[client_id]
        await self.send_frame({"type": "send", "room": room, "body": body, "client_id": client_id})

    async def send_frame(self, frame: dict) -> bool:
        """Send now, or not at all when disconnected (the reconnect syncs and resends)."""
        if self.socket is None:
            return False
        try:
            await self.socket.send(json.dumps(frame))
        except ConnectionClosed:
            return False
        return True


@dataclass
class Row:
    fault: str
    sent: set[str] = field(default_factory=set)
    acked: int = 0
    stored: int = 0
    lost: int = 0
    doubled: int = 0
    out_of_order: int = 0
    recovery: float | None = None
    http_500: int = 0
    counts_right_after: float | None = None


class Scene:
    """Everything the faults act on, and the checks that follow each one."""

    def __init__(self, servers, redis_a, redis_b, rooms, clients, receivers, senders, db_url):
        self.servers, self.redis_a, self.redis_b = servers, redis_a, redis_b
        self.rooms, self.clients, self.receivers, self.senders = rooms, clients, receivers, senders
        self.db_url = db_url
        self.db: psycopg.AsyncConnection | None = None
        self.rows: list[Row] = []
        self.stored: dict[int, list[tuple[int, int]]] = {}
        self.counter = 0

    async def query(self, sql: str, params=()) -> list[tuple]:
        """Read the test database, on a fresh connection when a fault cut ours."""
        for _ in range(2):
            try:
                if self.db is None or self.db.closed:
                    self.db = await psycopg.AsyncConnection.connect(
                        self.db_url,
                        autocommit=True,
                        application_name=settings.TEST_APPLICATION_NAME,
                    )
                return await (await self.db.execute(sql, params)).fetchall()
            except psycopg.OperationalError:
                self.db = None
        raise RuntimeError("the test database cannot be read")

    async def last_seqs(self) -> dict[int, int]:
        return dict(
            await self.query("SELECT id, last_seq FROM chat_room WHERE id = ANY(%s)", [self.rooms])
        )

    def behind(self, seqs: dict[int, int]) -> int:
        return sum(
            max(0, seqs[room] - client.last[room])
            for client in self.receivers
            for room in client.last
        )

    async def traffic(self, row: Row, rate: float, seconds: float) -> None:
        """Post `rate` messages a second for `seconds`, round-robin over senders and rooms."""
        start = time.monotonic()
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            self.post(row, n)

    def post(self, row: Row, n: int) -> None:
        sender = self.senders[n % len(self.senders)]
        room = self.rooms[(n // len(self.senders)) % len(self.rooms)]
        self.counter += 1
        row.sent.add(sender.post(room, f"{row.fault} #{self.counter}"))

    async def recovery(self, ended: float, deadline: float = 15) -> float | None:
        """Seconds from `ended` until every receiver shows every message stored at least one
        poll (0.1 s) earlier; None if that never happens within `deadline`."""
        stored = await self.last_seqs()
        while time.monotonic() - ended < deadline:
            await asyncio.sleep(0.1)
            now_stored = await self.last_seqs()
            if self.behind(stored) == 0:
                return time.monotonic() - ended
            stored = now_stored
        return None

    async def settle(self, seconds: float = 15) -> None:
        """Wait until every send is confirmed and every receiver shows everything stored."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not any(s.pending for s in self.senders) and not self.behind(await self.last_seqs()):
                return
            await asyncio.sleep(0.1)

    async def counts_right(self) -> float | None:
        """Seconds until every user's socket count equals their clients' open sockets."""
        start = time.monotonic()
        while time.monotonic() - start < SOCKET_TTL + 4:
            expected = Counter(c.user_id for c in self.clients if c.socket is not None)
            users = {c.user_id for c in self.clients}
            actual = {
                user: await asyncio.to_thread(presence.socket_count, user_id=user) for user in users
            }
            if all(actual[user] == expected[user] for user in users):
                return time.monotonic() - start
            await asyncio.sleep(0.2)
        return None

    async def rehome(self) -> None:
        """Clients that a fault moved to the other server go back to their own."""
        for client in self.clients:
            if client.socket is not None and client.url != client.home:
                await client.socket.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if all(c.socket is not None and c.url == c.home for c in self.clients):
                return
            await asyncio.sleep(0.05)

    def log_500s(self) -> int:
        text = "".join(server.log_path.read_text(errors="replace") for server in self.servers)
        return sum(text.count(mark) for mark in HTTP_500_MARKS)

    def log_summary(self) -> str:
        """The servers' log lines that start a record (not a traceback's), counted."""
        lines = Counter(
            line[:120]
            for server in self.servers
            for line in server.log_path.read_text(errors="replace").splitlines()
            if line and not line.startswith((" ", "Traceback", "During handling", "The above"))
        )
        return "\n".join(f"  {count} x {line}" for line, count in lines.most_common(12))

    async def round(self, name: str, inject, *, quiet: bool = False) -> Row:
        """Traffic (unless quiet), the fault, then the checks; one row of the table."""
        row = Row(name)
        self.rows.append(row)
        await self.rehome()
        await self.settle()
        http_before = self.log_500s() + sum(len(c.http_5xx) for c in self.clients)
        flow = None
        if not quiet:
            flow = asyncio.ensure_future(self.traffic(row, RATE, 6))
            await asyncio.sleep(1)
        ended = await inject(row)
        row.recovery = await self.recovery(ended)
        if flow is not None:
            await flow
        await self.settle()
        row.counts_right_after = await self.counts_right()
        row.http_500 = self.log_500s() + sum(len(c.http_5xx) for c in self.clients) - http_before
        return row

    async def account(self) -> None:
        """Fill each row's stored, lost, doubled and out-of-order counts from the database and
        what each receiver showed."""
        stored = await self.query(
            "SELECT room_id, seq, id, client_id::text FROM chat_message"
            " WHERE room_id = ANY(%s) ORDER BY room_id, seq",
            [self.rooms],
        )
        by_client = Counter(client_id for _, _, _, client_id in stored)
        self.stored = {
            room: [(seq, mid) for r, seq, mid, _ in stored if r == room] for room in self.rooms
        }
        for row in self.rows:
            acked = set().union(*(s.acked for s in self.senders)) & row.sent
            mine = [(room, seq, mid) for room, seq, mid, cid in stored if cid in row.sent]
            row.acked, row.stored = len(acked), len(mine)
            row.lost = len(acked - {cid for *_, cid in stored})
            row.doubled = sum(by_client[cid] - 1 for cid in row.sent if by_client[cid] > 1)
            for client in self.receivers:
                shown = {room: set(pairs) for room, pairs in client.shown.items()}
                for room, seq, mid in mine:
                    if room in shown and (seq, mid) not in shown[room]:
                        row.lost += 1
                ids = {mid for _, _, mid in mine}
                for pairs in client.shown.values():
                    seqs = [seq for seq, mid in pairs if mid in ids]
                    row.doubled += len(seqs) - len(set(seqs))
                    row.out_of_order += sum(1 for a, b in pairwise(seqs) if b <= a)

    def table(self) -> str:
        lines = [
            "| fault | sent | acknowledged | stored | lost | doubled | out of order"
            " | recovery s | HTTP 500s | counts right after s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in self.rows:
            recovery = "never" if r.recovery is None else f"{r.recovery:.2f}"
            counts = "never" if r.counts_right_after is None else f"{r.counts_right_after:.1f}"
            lines.append(
                f"| {r.fault} | {len(r.sent)} | {r.acked} | {r.stored} | {r.lost} | {r.doubled}"
                f" | {r.out_of_order} | {recovery} | {r.http_500} | {counts} |"
            )
        return "\n".join(lines)

    # The faults. Each returns the moment it ended (the service back and accepting).

    async def kill_server(self, row: Row) -> float:
        server = self.servers[1]
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        await asyncio.to_thread(server.start)
        return time.monotonic()

    async def kill_redis(self, server: RedisServer) -> float:
        server.kill()
        await asyncio.sleep(OUTAGE)
        await asyncio.to_thread(server.start)
        return time.monotonic()

    async def kill_redis_a(self, row: Row) -> float:
        return await self.kill_redis(self.redis_a)

    async def kill_redis_b(self, row: Row) -> float:
        return await self.kill_redis(self.redis_b)

    async def kill_redis_a_then_one_message(self, row: Row) -> float:
        """The quiet room: after the restart one message, confirmed to its sender, then nothing;
        recovery counts from the restart."""
        ended = await self.kill_redis(self.redis_a)
        self.post(row, 0)
        deadline = time.monotonic() + 10
        while any(s.pending for s in self.senders) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return ended

    async def terminate_backends(self, row: Row) -> float:
        [(terminated,)] = await self.query(
            TERMINATE_SERVER_BACKENDS, [settings.TEST_APPLICATION_NAME]
        )
        row.fault += f" ({terminated})"
        return time.monotonic()

    async def burst(self, row: Row) -> float:
        await self.traffic(row, RATE * BURST_FACTOR, 3)
        return time.monotonic()


def room_shards(room_ids: list[int], prefix: str) -> dict[int, str]:
    """Which of the two layer shards (A or B) carries each room's group."""
    from channels_redis.utils import _consistent_hash

    return {room: "AB"[_consistent_hash(f"{prefix}__group__room.{room}", 2)] for room in room_ids}


def test_messages_survive_faults_exactly_once(server_env, settings):
    redis_a, redis_b = RedisServer(), RedisServer()
    redis_a.start()
    redis_b.start()
    prefix = f"parley-faults-{uuid.uuid4().hex[:8]}"
    env = dict(
        server_env,
        REDIS_URL=redis_a.url,
        CHANNEL_LAYER_URLS=f"{redis_a.url},{redis_b.url}",
        REDIS_PREFIX=prefix,
        CHAT_REVALIDATE_SECONDS="1",
        CHAT_SOCKET_TTL=str(SOCKET_TTL),
        # Budgets on (so their Redis calls meet the faults), high enough for the burst.
        CHAT_RATE_PER_SECOND="100",
        CHAT_RATE_BURST="200",
    )
    settings.REDIS_URL = redis_a.url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_a.url,
            "KEY_PREFIX": prefix,
        }
    }
    servers = [LiveServer(env), LiveServer(env)]
    try:
        for server in servers:
            server.start()
        table, failures = run_faults(servers, redis_a, redis_b, prefix, env["DATABASE_URL"])
    finally:
        for server in servers:
            server.stop()
        for server in (redis_a, redis_b):
            if server.process.poll() is None:
                server.kill()
    TABLES.append(table)
    print(table)
    assert not failures, "\n".join([*failures, table])


def run_faults(servers, redis_a, redis_b, prefix, db_url) -> tuple[str, list[str]]:
    """Set the users and rooms up, run every fault in turn; the table and what went wrong."""
    senders = [UserFactory(username=f"sender{n}") for n in range(SENDERS)]
    readers = [UserFactory(username=f"reader{n}") for n in range(RECEIVER_USERS)]
    # Rooms until one's group lives on each shard, so that both Redis faults cut a room; the
    # users join those two only. Readers follow one room or both.
    owner = UserFactory(username="owner")
    candidates: list[Room] = []
    while len(set(room_shards([r.id for r in candidates], prefix).values())) < 2:
        candidates.append(make_room(Room.Kind.PRIVATE, owner))
    shards = room_shards([r.id for r in candidates], prefix)
    room_ids = [next(r.id for r in candidates if shards[r.id] == shard) for shard in "AB"]
    shards = {room: shards[room] for room in room_ids}
    reader_rooms = [room_ids[:1], room_ids, room_ids[1:]]
    for user, rooms in [
        *((s, room_ids) for s in senders),
        *zip(readers, reader_rooms, strict=True),
    ]:
        for room in rooms:
            Membership.objects.create(room_id=room, user=user)
    urls = [s.url.replace("http://", "ws://") + "/ws/chat/" for s in servers]
    keys = {u.id: api_token_create(user=u, name="faults")[1] for u in [*senders, *readers]}

    def client(name: str, user, home: int, rooms_: list[int]) -> ProtocolClient:
        return ProtocolClient(name, user.id, keys[user.id], [urls[home], urls[1 - home]], rooms_)

    sender_clients = [client(f"s{n}", u, n % 2, room_ids) for n, u in enumerate(senders)]
    receivers = [
        client(f"r{n}.{home}", u, home, reader_rooms[n])
        for n, u in enumerate(readers)
        for home in (0, 1)
    ]

    async def scenario() -> tuple[str, list[str]]:
        clients = [*sender_clients, *receivers]
        scene = Scene(
            servers, redis_a, redis_b, room_ids, clients, receivers, sender_clients, db_url
        )
        for c in clients:
            c.start()
        faults = [
            ("worker SIGKILL + restart", scene.kill_server, False),
            ("Redis A (cache + shard) killed, traffic", scene.kill_redis_a, False),
            ("Redis A killed, one message, silence", scene.kill_redis_a_then_one_message, True),
            ("Redis B (shard) killed, traffic", scene.kill_redis_b, False),
            ("PostgreSQL backends terminated", scene.terminate_backends, False),
            (f"burst x{BURST_FACTOR} for 3 s", scene.burst, False),
        ]
        try:
            for name, inject, quiet in faults:
                await scene.round(name, inject, quiet=quiet)
            await scene.settle()
            await scene.account()
            failures = final_failures(scene)
        finally:
            try:
                for c in clients:
                    await c.stop()
            finally:
                if scene.db is not None:
                    await scene.db.close()
        ended = sum((c.errors for c in clients), Counter())
        header = (
            f"rooms' groups on shards {shards}; {RATE} msgs/s, outages {OUTAGE} s;"
            f" client connections ended by {dict(ended)}; server log lines:\n{scene.log_summary()}"
        )
        return f"{header}\n{scene.table()}", failures

    return in_a_thread(asyncio.run, scenario())


def final_failures(scene: Scene) -> list[str]:
    failures = []
    for row in scene.rows:
        if row.lost or row.doubled or row.out_of_order or row.http_500:
            failures.append(f"{row.fault}: lost, doubled, out of order or HTTP 500")
        if row.recovery is None or row.recovery > RECOVERY_BOUND:
            failures.append(f"{row.fault}: recovery {row.recovery} s > {RECOVERY_BOUND} s")
        if row.counts_right_after is None:
            failures.append(f"{row.fault}: socket counts still wrong after {SOCKET_TTL + 4} s")
        if row.acked != len(row.sent):
            failures.append(f"{row.fault}: {len(row.sent) - row.acked} sends never confirmed")
    for client in scene.receivers:
        for room, pairs in client.shown.items():
            if pairs != scene.stored[room]:
                missing = sorted(set(scene.stored[room]) - set(pairs))
                failures.append(
                    f"{client.name} room {room}: showed {len(pairs)} of {len(scene.stored[room])}"
                    f" stored messages; missing (seq, id) {missing[:10]}"
                )
    for client in scene.clients:
        if client.unexpected:
            failures.append(f"{client.name}: unexpected frames {client.unexpected[:3]}")
    return failures
