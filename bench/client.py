"""The load generator: one asyncio process, real WebSocket clients (the `websockets` library).

Every sender stamps its own sends by client_id; every receiver matches what it gets against
those stamps, so a message that never arrives is counted as lost and one that arrives twice at
the same socket as a duplicate."""

import asyncio
import contextlib
import http.client
import json
import math
import multiprocessing
import statistics
import time
import uuid
from dataclasses import dataclass, field

from tqdm import tqdm
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

# Fast paths for the frames that come by the thousand, as json.dumps writes them by default or
# compactly; any other shape takes the slow path (json.loads) and is counted all the same.
MESSAGE_PREFIXES = ('{"type": "message"', '{"type":"message"')
TYPING_PREFIXES = ('{"type": "typing"', '{"type":"typing"')
CLIENT_ID_KEY = '"client_id"'
BODY = "benchmark message " * 3
# Handshakes in flight per client process, and sockets per client process: well under the
# 20,000 open files a process may hold on the bench machine.
IN_FLIGHT = 100
SOCKETS_PER_CLIENT = 12_500


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary_ms(values: list[float]) -> dict:
    def ms(value):
        return None if value is None else round(value * 1000, 2)

    return {
        "p50_ms": ms(percentile(values, 0.50)),
        "p95_ms": ms(percentile(values, 0.95)),
        "p99_ms": ms(percentile(values, 0.99)),
        "max_ms": ms(max(values) if values else None),
    }


@dataclass
class Phase:
    """What was sent during one measured run, and what came back."""

    sent: dict[str, float] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    delivered: int = 0
    duplicates: int = 0
    strays: int = 0
    typing: int = 0
    errors: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)

    def error(self, code: str) -> None:
        self.errors += 1
        self.error_codes[code] = self.error_codes.get(code, 0) + 1


class Member:
    """One socket (in one room, or in the workspace in several): it reads everything, and sends
    when told to. `pool` is whatever holds the current Phase and knows whether it is closing."""

    def __init__(self, ws, room: int | None):
        self.ws = ws
        self.room = room
        self.seen: set[str] = set()
        self.task: asyncio.Task | None = None

    def receive(self, pool) -> None:
        self.task = asyncio.create_task(self._read(pool))

    async def _read(self, pool) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                phase = pool.phase
                if raw.startswith(MESSAGE_PREFIXES):
                    at = raw.index('"', raw.rfind(CLIENT_ID_KEY) + len(CLIENT_ID_KEY)) + 1
                    self._message(phase, raw[at : at + 36], now)
                    continue
                if raw.startswith(TYPING_PREFIXES):
                    phase.typing += 1
                    continue
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message":
                    self._message(phase, frame["message"]["client_id"], now)
                elif kind == "typing":
                    phase.typing += 1
                elif kind == "error":
                    phase.error(frame.get("code", "error"))
                    if "client_id" in frame:
                        phase.refused.add(frame["client_id"])
        except ConnectionClosed:
            if not pool.closing:
                pool.phase.error("socket_closed")

    def _message(self, phase: Phase, client_id: str, now: float) -> None:
        if client_id in self.seen:
            phase.duplicates += 1
            return
        self.seen.add(client_id)
        stamp = phase.sent.get(client_id)
        if stamp is None:
            phase.strays += 1
        else:
            phase.delivered += 1
            phase.latencies.append(now - stamp)


async def open_socket(
    url: str, token: str | None, expect_hello: bool, timeout: float = 30, source: str | None = None
):
    """An open socket, past `hello` when expected; from the loopback address `source` if given."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    ws = await connect(
        url,
        additional_headers=headers,
        local_addr=(source, 0) if source else None,
        compression=None,
        ping_interval=None,
        open_timeout=timeout,
        close_timeout=2,
        max_size=2**20,
        max_queue=None,
    )
    if expect_hello:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame.get("type") != "hello":
            await ws.close()
            raise RuntimeError(f"expected hello, got {frame.get('type')}: {frame}")
    return ws


async def open_many(jobs: list[tuple[str, str | None]], expect_hello: bool, label: str) -> list:
    """Open a socket for each (url, token), 50 handshakes at a time: the sockets in the jobs'
    order, None where one failed."""
    limit = asyncio.Semaphore(50)
    bar = tqdm(total=len(jobs), desc=f"{label}: connect", unit="sock", leave=False, disable=None)

    async def one(url: str, token: str | None):
        async with limit:
            try:
                return await open_socket(url, token, expect_hello)
            except Exception:
                return None
            finally:
                bar.update()

    opened = await asyncio.gather(*(one(url, token) for url, token in jobs))
    bar.close()
    return opened


async def close_members(members: list[Member]) -> None:
    """Drop the sockets at once (no closing handshake) and stop their readers."""
    for member in members:
        member.ws.transport.abort()
        if member.task:
            member.task.cancel()
    await asyncio.sleep(0.1)


async def drain(phase: Phase, expected, deadline: float) -> None:
    """Wait until every expected delivery came (or was refused), or until `deadline`."""
    while time.perf_counter() < deadline and phase.delivered < expected():
        await asyncio.sleep(0.02)


def outcome(phase: Phase, expected: int, start: float, sent_done: float) -> dict:
    """A measured run's counts, rates and latency; `expected` deliveries of what was not
    refused."""
    elapsed = time.perf_counter() - start
    return {
        "sent": len(phase.sent),
        "send_rate": round(len(phase.sent) / (sent_done - start), 1),
        "expected": expected,
        "delivered": phase.delivered,
        "deliveries_per_s": round(phase.delivered / elapsed, 1),
        "lost": max(0, expected - phase.delivered),
        "duplicates": phase.duplicates,
        "strays": phase.strays,
        "errors": phase.errors,
        "error_codes": phase.error_codes,
        "drain_s": round(time.perf_counter() - sent_done, 3),
        **summary_ms(phase.latencies),
    }


class Pool:
    """The sockets of every fan-out room on one server under test."""

    def __init__(self):
        self.rooms: dict[int, list[Member]] = {}
        self.phase = Phase()
        self.closing = False
        self.connect_errors = 0

    async def open(self, rooms: list[dict], urls, expect_hello: bool, label: str) -> None:
        """rooms: [{"id", "tokens"}]; urls(room_id, index) gives each member's server URL."""
        places = [
            (room["id"], index, token if expect_hello else None)
            for room in rooms
            for index, token in enumerate(room["tokens"])
        ]
        opened = await open_many(
            [(urls(room_id, index), token) for room_id, index, token in places],
            expect_hello,
            label,
        )
        self.connect_errors = opened.count(None)
        for (room_id, _, _), ws in zip(places, opened, strict=True):
            if ws:
                member = Member(ws, room_id)
                member.receive(self)
                self.rooms.setdefault(room_id, []).append(member)

    async def run(self, room_id: int, rate: float, seconds: float, senders: int, label: str):
        """Send `rate` messages/s in total from `senders` members for `seconds`, then drain."""
        members = self.rooms.get(room_id, [])
        phase = self.phase = Phase()
        for member in members:
            member.seen = set()
        senders = max(1, min(senders, len(members)))
        per_sender = rate / senders
        start = time.perf_counter() + 0.05
        end = start + seconds
        bar = tqdm(total=int(rate * seconds), desc=label, unit="msg", leave=False, disable=None)
        await asyncio.gather(
            *(
                self._send(members[n], per_sender, start + n / rate, end, phase, bar)
                for n in range(senders)
            )
        )
        sent_done = time.perf_counter()
        bar.close()

        def expected() -> int:
            return (len(phase.sent) - len(phase.refused)) * len(members)

        await drain(phase, expected, sent_done + max(3.0, min(10.0, seconds)))
        return {
            "members": len(members),
            "senders": senders,
            "offered_rate": rate,
            "seconds": seconds,
            **outcome(phase, expected(), start, sent_done),
        }

    async def _send(self, member: Member, rate: float, first: float, end: float, phase, bar):
        interval = 1 / rate
        n = 0
        while True:
            due = first + n * interval
            if due >= end:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            client_id = str(uuid.uuid4())
            frame = (
                f'{{"type": "send", "room": {member.room}, "body": "{BODY}", '
                f'"client_id": "{client_id}"}}'
            )
            phase.sent[client_id] = time.perf_counter()
            try:
                await member.ws.send(frame)
            except ConnectionClosed:
                del phase.sent[client_id]
                phase.error("send_failed")
                return
            n += 1
            bar.update()

    async def close(self) -> None:
        self.closing = True
        await close_members([member for members in self.rooms.values() for member in members])
        self.rooms.clear()


async def ramp(
    urls: list[str],
    tokens: list[str | None],
    count: int,
    expect_hello: bool,
    seconds: float,
    *,
    first: int = 0,
    source: str | None = None,
    label: str | None = None,
) -> dict:
    """Open `count` idle authenticated sockets, IN_FLIGHT handshakes at a time, as fast as the
    server takes them, for at most `seconds` (the rest are reported as not attempted); hold them.
    Socket n (counting from `first`) goes to urls[n % len(urls)] with tokens[n % len(tokens)]."""
    limit = asyncio.Semaphore(IN_FLIGHT)
    held: list = []
    failures: dict[str, int] = {}
    bar = tqdm(
        total=count,
        desc=f"{label}: ramp",
        unit="sock",
        leave=False,
        disable=None if label else True,
    )

    async def one(index: int):
        async with limit:
            if time.monotonic() > deadline:
                failures["not_attempted"] = failures.get("not_attempted", 0) + 1
                bar.update()
                return
            try:
                url, token = urls[index % len(urls)], tokens[index % len(tokens)]
                held.append(await open_socket(url, token, expect_hello, 60, source))
            except Exception as error:
                name = type(error).__name__
                failures[name] = failures.get(name, 0) + 1
            finally:
                bar.update()

    began = time.monotonic()
    deadline = began + seconds
    await asyncio.gather(*(one(index) for index in range(first, first + count)))
    ended = time.monotonic()
    bar.close()
    return {
        "target": count,
        "held": len(held),
        "failures": failures,
        "began": began,
        "ended": ended,
        "seconds": round(ended - began, 2),
        "connect_rate": round(len(held) / (ended - began), 1),
        "sockets": held,
    }


def _client_process(conn, urls, tokens, first, count, expect_hello, seconds, source) -> None:
    asyncio.run(_client_main(conn, urls, tokens, first, count, expect_hello, seconds, source))


async def _client_main(conn, urls, tokens, first, count, expect_hello, seconds, source) -> None:
    """One client process of Clients: ramp on "ramp", ping on "check", let go on "close"."""
    conn.send("ready")
    sockets = []
    while (order := await asyncio.to_thread(conn.recv)) != "close":
        if order == "ramp":
            result = await ramp(
                urls, tokens, count, expect_hello, seconds, first=first, source=source
            )
            sockets = result.pop("sockets")
            conn.send(result)
        elif order == "check":
            conn.send(await still_open(sockets))
    abort_all(sockets)


class Clients:
    """Idle sockets held by `processes` client processes (more if needed to keep each under the
    open-file limit, SOCKETS_PER_CLIENT at most), each connecting from its own loopback address
    (127.0.0.2, 127.0.0.3, ...), so that no address runs out of ephemeral ports."""

    def __init__(self, urls, tokens, count: int, expect_hello: bool, seconds: float, processes=1):
        processes = max(processes, math.ceil(count / SOCKETS_PER_CLIENT))
        share = math.ceil(count / processes)
        context = multiprocessing.get_context("spawn")
        self.count = count
        self.sources = [f"127.0.0.{2 + n}" for n in range(processes)]
        self.conns, self.procs = [], []
        for n, source in enumerate(self.sources):
            ours, theirs = context.Pipe()
            first = n * share
            args = (theirs, urls, tokens, first, min(share, count - first), expect_hello)
            proc = context.Process(
                target=_client_process, args=(*args, seconds, source), daemon=True
            )
            proc.start()
            theirs.close()  # so that a client process's death reads as EOF here
            self.conns.append(ours)
            self.procs.append(proc)

    async def _answers(self, order: str | None) -> list:
        if order:
            for conn in self.conns:
                conn.send(order)
        return await asyncio.gather(*(asyncio.to_thread(conn.recv) for conn in self.conns))

    async def ramp(self) -> dict:
        """Ramp every client process at once; the handshake rate over the whole ramp."""
        await self._answers(None)  # every process is up
        parts = await self._answers("ramp")
        held = sum(part["held"] for part in parts)
        failures: dict[str, int] = {}
        for part in parts:
            for name, count in part["failures"].items():
                failures[name] = failures.get(name, 0) + count
        elapsed = max(part["ended"] for part in parts) - min(part["began"] for part in parts)
        return {
            "target": self.count,
            "held": held,
            "failures": failures,
            "seconds": round(elapsed, 2),
            "connect_rate": round(held / elapsed, 1),
            "client_processes": len(self.procs),
            "sources": self.sources,
        }

    async def still_open(self) -> int:
        return sum(await self._answers("check"))

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send("close")
        for proc in self.procs:
            await asyncio.to_thread(proc.join, 30)
            if proc.is_alive():
                proc.kill()


async def still_open(sockets) -> int:
    """How many of `sockets` the server still holds (a ping answered on each)."""

    async def alive(ws) -> bool:
        try:
            await asyncio.wait_for(await ws.ping(), 10)
            return True
        except Exception:
            return False

    results = []
    for start in range(0, len(sockets), 500):
        results += await asyncio.gather(*(alive(ws) for ws in sockets[start : start + 500]))
    return sum(results)


def abort_all(sockets) -> None:
    for ws in sockets:
        ws.transport.abort()


def pages(port: int, cookie: str, paths: dict[str, str], requests: int) -> dict:
    """Sequential GETs of each page over one keep-alive connection: latency and status."""
    result = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": f"sessionid={cookie}", "Host": "127.0.0.1"}
    try:
        for name, path in paths.items():
            timings, failures = [], 0
            for n in range(requests + 5):
                began = time.perf_counter()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if n >= 5:  # the first few warm the process
                    timings.append(time.perf_counter() - began)
                    failures += response.status != 200
            result[name] = {
                "requests": len(timings),
                "failures": failures,
                "mean_ms": round(statistics.mean(timings) * 1000, 2),
                **summary_ms(timings),
            }
    finally:
        conn.close()
    return result
