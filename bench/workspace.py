"""The workspace workload: a company's day on one server, many rooms per socket.

Users sit in rooms whose sizes follow a Zipf law (size ∝ 1/rank, scaled so a user is in
`rooms_per_user` rooms on average, the largest room at most everyone); most users have one socket,
some two. Messages go to rooms chosen at random, every room as active as any other, from a random
member; typing frames likewise, at `typing_factor` times the message rate. Every message's
client_id carries its send time, so each socket's `message` frames give latency, loss and
duplicates as in the fan-out rows; `typing` frames are only counted."""

import asyncio
import random
import time
import uuid

from tqdm import tqdm
from websockets.exceptions import ConnectionClosed

from bench.client import BODY, Member, Phase, close_members, drain, open_many, outcome

SEED = 15
ROOMS_PER_USER = 8
SECOND_SOCKET = 0.1  # the share of users with a second socket (another tab or device)


def room_sizes(users: int, rooms: int, rooms_per_user: float) -> list[int]:
    """Room sizes ∝ 1/rank, at least 2 and at most `users`, summing to about
    users * rooms_per_user."""
    target = users * rooms_per_user

    def sizes(scale: float) -> list[int]:
        return [min(users, max(2, round(scale / rank))) for rank in range(1, rooms + 1)]

    low, high = 1.0, float(target)
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if sum(sizes(middle)) < target else (low, middle)
    return sizes(low)


def memberships(users: int, sizes: list[int]) -> list[list[int]]:
    """For each room, the indexes of its members (distinct users drawn at random)."""
    rng = random.Random(SEED)
    return [sorted(rng.sample(range(users), size)) for size in sizes]


def sockets_of_users(users: int, second_socket: float) -> list[int]:
    """The user index of each socket: one per user, a second for a `second_socket` share."""
    rng = random.Random(SEED + 1)
    return list(range(users)) + sorted(rng.sample(range(users), round(users * second_socket)))


class Workspace:
    """Every socket of the workspace on one server under test, and the schedule it follows."""

    def __init__(self, fixture: dict):
        self.rooms = fixture["rooms"]  # [{"id", "members": [user index]}]
        self.tokens = fixture["tokens"]  # by user index
        self.socket_users = fixture["sockets"]  # user index of each socket
        self.members: list[Member | None] = []
        self.sockets_by_user: dict[int, list[int]] = {}
        self.present: list[list[int]] = []
        self.room_sockets: list[int] = []
        self.phase = Phase()
        self.closing = False
        self.connect_errors = 0
        self.runs = 0

    async def open(self, urls, label: str) -> None:
        """urls(index) gives each socket's server URL. A socket that fails to open is left out
        of the schedule and of what is expected."""
        jobs = [(urls(n), self.tokens[user]) for n, user in enumerate(self.socket_users)]
        opened = await open_many(jobs, True, label)
        self.connect_errors = opened.count(None)
        self.members = [ws and Member(ws, None) for ws in opened]
        for socket, member in enumerate(self.members):
            if member:
                member.receive(self)
                self.sockets_by_user.setdefault(self.socket_users[socket], []).append(socket)
        self.present = [
            [user for user in room["members"] if user in self.sockets_by_user]
            for room in self.rooms
        ]
        # Sockets that receive a room's messages: all its members'; typing: all but the typist's.
        self.room_sockets = [
            sum(len(self.sockets_by_user[user]) for user in present) for present in self.present
        ]

    def schedule(self, rate: float, typing_factor: float, seconds: float, seed: int):
        """(due, kind, room index, socket index) for every frame, open-loop, evenly spaced."""
        rng = random.Random(seed)
        events = []
        for kind, kind_rate in (("send", rate), ("typing", rate * typing_factor)):
            for n in range(int(kind_rate * seconds)):
                room = rng.randrange(len(self.rooms))
                if not self.present[room]:
                    continue
                socket = rng.choice(self.sockets_by_user[rng.choice(self.present[room])])
                events.append((n / kind_rate, kind, room, socket))
        events.sort()
        return events

    async def run(self, rate: float, typing_factor: float, seconds: float, label: str) -> dict:
        """Play the schedule for `seconds`, then drain; the row for the report."""
        phase = self.phase = Phase()
        for member in filter(None, self.members):
            member.seen = set()
        self.runs += 1
        events = self.schedule(rate, typing_factor, seconds, seed=SEED + self.runs)
        expected_by_id: dict[str, int] = {}
        typing_expected = 0
        tasks = set()
        bar = tqdm(total=len(events), desc=label, unit="frame", leave=False, disable=None)
        start = time.perf_counter() + 0.05
        for due, kind, room, socket in events:
            delay = start + due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            room_id = self.rooms[room]["id"]
            if kind == "send":
                client_id = str(uuid.uuid4())
                frame = (
                    f'{{"type": "send", "room": {room_id}, "body": "{BODY}", '
                    f'"client_id": "{client_id}"}}'
                )
                expected_by_id[client_id] = self.room_sockets[room]
                phase.sent[client_id] = time.perf_counter()
            else:
                client_id = None
                frame = f'{{"type": "typing", "room": {room_id}}}'
                own = len(self.sockets_by_user[self.socket_users[socket]])
                typing_expected += self.room_sockets[room] - own
            task = asyncio.create_task(self._send(self.members[socket], frame, client_id))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            bar.update()
        sent_done = time.perf_counter()
        bar.close()

        def expected() -> int:
            return sum(
                count for client_id, count in expected_by_id.items() if client_id in phase.sent
            ) - sum(expected_by_id.get(client_id, 0) for client_id in phase.refused)

        await drain(phase, expected, sent_done + max(3.0, min(10.0, seconds)))
        return {
            "users": len(self.tokens),
            "rooms": len(self.rooms),
            "sockets": len(self.members) - self.connect_errors,
            "largest_room": max(len(room["members"]) for room in self.rooms),
            "offered_rate": rate,
            "seconds": seconds,
            **outcome(phase, expected(), start, sent_done),
            "typing_sent": sum(1 for event in events if event[1] == "typing"),
            "typing_expected": typing_expected,
            "typing_received": phase.typing,
        }

    async def _send(self, member: Member, frame: str, client_id: str | None) -> None:
        try:
            await member.ws.send(frame)
        except ConnectionClosed:
            if client_id:
                self.phase.sent.pop(client_id, None)
            self.phase.error("send_failed")

    async def close(self) -> None:
        self.closing = True
        await close_members(list(filter(None, self.members)))
        self.members.clear()
