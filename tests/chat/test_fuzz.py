"""Hypothesis throws random frames at the chat consumer: types, sizes, unicode, nesting.

Whatever arrives, the consumer never crashes, answers every frame with the frame a small
independent oracle predicts (or closes with a documented code), stays open after an error, and
stores exactly the messages whose frames were valid sends.

Each example opens its own socket on the real ASGI application (one event loop per example,
through async_to_sync); the database persists across the examples of one test, so the oracle
reads the sender's earlier client_ids from it.
"""

import json
import math
import uuid
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chat import services
from chat.models import BIGINT_MAX, Message, Room
from config.asgi import application
from tests.chat.conftest import ORIGIN, session_cookie
from tests.factories import UserFactory, make_room

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.parametrize("channel_layer", ["memory"], indirect=True),
]

FUZZ = hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PING = json.dumps({"type": "ping"})


class RoomRef:
    """Stands for a real room id, filled in once the example's world exists."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


MY_ROOM = RoomRef("MY_ROOM")
OTHERS_ROOM = RoomRef("OTHERS_ROOM")
MY_MESSAGE = RoomRef("MY_MESSAGE")  # the user's own latest message in their room
FRIENDS_MESSAGE = RoomRef("FRIENDS_MESSAGE")  # the room owner's message in the user's room
OTHERS_MESSAGE = RoomRef("OTHERS_MESSAGE")  # a message in a room the user is not in

# JSON values of every kind, nested.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**80)
    | st.floats()
    | st.text(max_size=20)
    | st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

# Frames biased toward the shapes the consumer knows.
FRAME_TYPES = ["send", "history", "sync", "edit", "delete", "read", "typing", "ping", "auth"]
frame_types = st.sampled_from([*FRAME_TYPES, "unknown"]) | st.text(max_size=8) | json_scalars
rooms = st.sampled_from([MY_ROOM, OTHERS_ROOM]) | st.integers() | json_scalars
client_ids = st.uuids().map(str) | st.uuids().map(lambda u: u.hex.upper()) | st.text(max_size=40)
whitespace = st.text(alphabet=" \t\r\n\u00a0\u2003\u3000\x0b", max_size=5)
surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
bodies = (
    st.text(max_size=60)
    | st.builds(
        lambda a, b: a + b, st.text(max_size=10), st.text(surrogates, min_size=1, max_size=2)
    )
    | st.builds(lambda a, b, c: a + b + c, whitespace, st.text(max_size=30), whitespace)
    | whitespace
    | st.sampled_from(["x" * 4000, "x" * 4001, " " + "y" * 4000 + " ", "é" * 4001, "a\x00b"])
    | st.builds(lambda char, n: char * n, st.sampled_from("zé😀 "), st.integers(3990, 4010))
    | json_values
)
positions = (
    st.integers(min_value=-3, max_value=20)
    | st.sampled_from([BIGINT_MAX, BIGINT_MAX + 1, 2**80])
    | st.integers()
    | json_scalars
)
message_ids = st.sampled_from([MY_MESSAGE, FRIENDS_MESSAGE, OTHERS_MESSAGE]) | positions
limits = st.integers(min_value=-2, max_value=150) | json_scalars
shaped_frames = st.fixed_dictionaries(
    {"type": frame_types},
    optional={
        "room": rooms,
        "client_id": client_ids,
        "body": bodies,
        "before": positions,
        "after": positions,
        "limit": limits,
        "seq": positions,
        "id": message_ids,
        "ticket": st.text(max_size=50) | json_scalars,
        "extra": json_values,
    },
)
any_frames = shaped_frames | json_values


# The world of one test: a user in a room with someone else, and a room the user is not in.


@dataclass
class World:
    user: object
    my_room_id: int
    others_room_id: int
    friends_message_id: int
    others_message_id: int
    cookie: str


@pytest.fixture
def world(channel_layer) -> World:
    user, friend, stranger, other = (UserFactory() for _ in range(4))
    mine = make_room(Room.Kind.PRIVATE, friend, user)
    others = make_room(Room.Kind.PRIVATE, stranger, other)
    friends, _ = services.message_post(
        author=friend, room_id=mine.id, body="the owner's", client_id=uuid.uuid4()
    )
    strangers, _ = services.message_post(
        author=stranger, room_id=others.id, body="not yours", client_id=uuid.uuid4()
    )
    services.message_post(author=user, room_id=mine.id, body="my own", client_id=uuid.uuid4())
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_cookie(user)}"
    return World(user, mine.id, others.id, friends.id, strangers.id, cookie)


def resolve(value, world: World):
    """The frame with its placeholders replaced by real ids."""
    if value is MY_ROOM:
        return world.my_room_id
    if value is OTHERS_ROOM:
        return world.others_room_id
    if value is MY_MESSAGE:
        mine = Message.objects.filter(author=world.user, room_id=world.my_room_id)
        return mine.order_by("-id").values_list("id", flat=True).first()
    if value is FRIENDS_MESSAGE:
        return world.friends_message_id
    if value is OTHERS_MESSAGE:
        return world.others_message_id
    if isinstance(value, dict):
        return {key: resolve(item, world) for key, item in value.items()}
    return value


# The oracle: what the consumer must answer, derived from the protocol, not from its code.


def _is_seq(frame: dict, name: str, *, required: bool) -> bool:
    value = frame.get(name)
    if value is None and not required:
        return True
    return type(value) is int and 0 <= value <= BIGINT_MAX


def _is_id(value) -> bool:
    return type(value) is int and 1 <= value <= BIGINT_MAX


def _uuid(value) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _clean_body(body) -> tuple[str, str]:
    """("ok", stripped body) or ("error", code), as the protocol describes a valid body."""
    if not isinstance(body, str) or not body.strip():
        return "error", "bad_request"
    body = body.strip()
    if len(body) > 4000:
        return "error", "too_long"
    if "\x00" in body or any(0xD800 <= ord(char) <= 0xDFFF for char in body):
        return "error", "bad_request"
    return "ok", body


Rows = dict[int, tuple[int, int, str, str, bool]]  # id: (room, author, client_id, body, deleted)


def snapshot() -> Rows:
    return {
        m.id: (m.room_id, m.author_id, str(m.client_id), m.body, m.deleted_at is not None)
        for m in Message.objects.all()
    }


def predict(frame, world: World, rows: Rows) -> tuple[str, object]:
    """What the protocol says the answer is: ("error", code) | ("reply", frame type) |
    ("stored", body) | ("resent", message id) | ("updated", (id, body, deleted)) |
    ("silent", "")."""
    if not isinstance(frame, dict) or frame.get("type") not in FRAME_TYPES[:-1]:
        return "error", "bad_request"  # includes "auth" on a socket that is already signed in
    kind = frame["type"]
    if kind == "ping":
        return "reply", "pong"
    room = frame.get("room")
    if not _is_id(room):
        return "error", "bad_request"
    member = room == world.my_room_id
    if kind == "send":
        client_id = _uuid(frame.get("client_id"))
        if client_id is None:
            return "error", "bad_request"
        status, body = _clean_body(frame.get("body"))
        if status == "error":
            return status, body
        mine = {row[2]: (id_, row[0]) for id_, row in rows.items() if row[1] == world.user.id}
        if str(client_id) in mine:
            id_, earlier_room = mine[str(client_id)]
            return ("resent", id_) if earlier_room == room else ("error", "conflict")
        return ("stored", body) if member else ("error", "not_found")
    if kind in {"edit", "delete"}:
        message_id = frame.get("id")
        if not _is_id(message_id):
            return "error", "bad_request"
        if kind == "edit":
            status, body = _clean_body(frame.get("body"))
            if status == "error":
                return status, body
        row = rows.get(message_id)
        if not member or row is None or row[0] != room or row[4]:
            return "error", "not_found"
        if row[1] != world.user.id:
            return "error", "forbidden"  # the user owns no room here, only their own messages
        if kind == "delete":
            return "updated", (message_id, "", True)
        return ("silent", "") if body == row[3] else ("updated", (message_id, body, False))
    if kind == "history":
        limit = frame.get("limit", 50)
        if not _is_seq(frame, "before", required=False):
            return "error", "bad_request"
        if type(limit) is not int or not 1 <= limit <= 100:
            return "error", "bad_request"
        return ("reply", "history") if member else ("error", "not_found")
    if kind == "sync":
        if not _is_seq(frame, "after", required=True):
            return "error", "bad_request"
        return ("reply", "sync") if member else ("error", "not_found")
    if kind == "read":
        return ("silent", "") if _is_seq(frame, "seq", required=True) else ("error", "bad_request")
    return ("silent", "") if member else ("error", "not_found")  # typing


def expected_rows(rows: Rows, expected: tuple[str, object]) -> Rows:
    """The messages after the frame: one more for a valid send, one changed for an edit or a
    delete, none otherwise."""
    outcome, detail = expected
    if outcome == "stored":
        return rows  # the new row's id is unknown: run_frame compares it separately
    if outcome == "updated":
        message_id, body, deleted = detail
        room, author, client_id, _, _ = rows[message_id]
        return {**rows, message_id: (room, author, client_id, body, deleted)}
    return rows


# Driving one socket.


class Socket:
    def __init__(self, headers):
        self.communicator = WebsocketCommunicator(application, "/ws/chat/", headers)

    async def open(self) -> "Socket":
        connected, _ = await self.communicator.connect()
        assert connected
        return self

    async def output(self, timeout: float = 3) -> dict:
        return await self.communicator.receive_output(timeout)

    async def frame(self, timeout: float = 3) -> dict:
        output = await self.output(timeout)
        assert output["type"] == "websocket.send", output
        return json.loads(output["text"])

    async def send_text(self, text: str):
        # send_input rather than send_to, which refuses an empty frame
        await self.communicator.send_input({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes):
        await self.communicator.send_input({"type": "websocket.receive", "bytes": data})

    async def replies_until_pong(self) -> tuple[list[dict], int | None]:
        """Every frame up to the pong that answers a ping, or the close code if it closes."""
        await self.send_text(PING)
        replies = []
        while True:
            output = await self.output()
            if output["type"] == "websocket.close":
                return replies, output.get("code")
            frame = json.loads(output["text"])
            if frame == {"type": "pong"}:
                return replies, None
            replies.append(frame)

    async def shut(self):
        await self.communicator.disconnect()


def member_headers(world: World) -> list:
    return [(b"cookie", world.cookie.encode()), (b"origin", ORIGIN)]


def check_reply(expected: tuple[str, object], replies: list[dict], world: World) -> None:
    outcome, detail = expected
    if outcome == "error":
        assert [(r["type"], r["code"]) for r in replies] == [("error", detail)], replies
        assert isinstance(replies[0]["detail"], str)
    elif outcome == "reply" and detail == "pong":
        assert replies == [{"type": "pong"}]
    elif outcome == "reply":
        assert [r["type"] for r in replies] == [detail], replies
        assert replies[0]["room"] == world.my_room_id
        assert all(m["room"] == world.my_room_id for m in replies[0]["messages"])
    elif outcome == "stored":
        assert [r["type"] for r in replies] == ["message"], replies
        message = replies[0]["message"]
        assert (message["room"], message["body"]) == (world.my_room_id, detail)
    elif outcome == "resent":
        # docs/protocol.md: a resend "answers with the stored message"; the consumer answers
        # nothing today (test_a_resent_send_is_answered_with_the_stored_message).
        assert [r["message"]["id"] for r in replies if r["type"] == "message"] in ([], [detail])
        assert all(r["type"] == "message" for r in replies), replies
    elif outcome == "updated":
        message_id, body, deleted = detail
        assert [r["type"] for r in replies] == ["message.updated"], replies
        message = replies[0]["message"]
        assert (message["id"], message["body"], message["deleted"]) == (message_id, body, deleted)
    else:
        assert replies == [], replies


BROADCAST_OUTCOMES = {"stored", "updated"}


async def exchange(world: World, text: str, expected: tuple[str, object]) -> None:
    """Open a member's socket, send one frame, check the answer and that the socket lives on."""
    socket = await Socket(member_headers(world)).open()
    try:
        assert (await socket.frame())["type"] == "hello"
        await socket.send_text(text)
        replies, code = await socket.replies_until_pong()
        if expected[0] == "close":
            assert (replies, code) == ([], expected[1])
            return
        assert code is None, (code, replies)
        if expected[0] in BROADCAST_OUTCOMES and not replies:
            # The room's broadcast and the pong race on the consumer's two inputs.
            replies = [await socket.frame()]
        elif expected == ("reply", "pong"):
            replies.append({"type": "pong"})
            assert await socket.frame() == {"type": "pong"}  # the answer to our own ping
        assert await socket.communicator.receive_nothing(0.05)
        check_reply(expected, replies, world)
    finally:
        await socket.shut()


def run_text(world: World, text: str, frame) -> None:
    """Send `text` (whose parsed value is `frame`) and check the answer and the stored rows."""
    rows = snapshot()
    if len(text.encode()) > settings.CHAT_FRAME_MAX_BYTES:
        expected = ("close", 1009)
    else:
        expected = predict(frame, world, rows)
    async_to_sync(exchange)(world, text, expected)
    after = snapshot()
    if expected[0] == "stored":
        new = {id_: row for id_, row in after.items() if id_ not in rows}
        client_id = str(uuid.UUID(frame["client_id"]))
        assert list(new.values()) == [
            (world.my_room_id, world.user.id, client_id, expected[1], False)
        ]
        after = {id_: row for id_, row in after.items() if id_ in rows}
    assert after == expected_rows(rows, expected)


def run_frame(world: World, frame) -> None:
    frame = resolve(frame, world)
    run_text(world, json.dumps(frame), frame)


@FUZZ
@given(frame=any_frames)
@example(
    frame={"type": "send", "room": MY_ROOM, "body": " hi ", "client_id": str(uuid.UUID(int=1))}
)
@example(frame={"type": "send", "room": OTHERS_ROOM, "body": "x", "client_id": str(uuid.uuid4())})
@example(frame={"type": "send", "room": MY_ROOM, "body": "hi \ud800", "client_id": "0" * 32})
@example(frame={"type": "history", "room": MY_ROOM, "before": 2**80, "limit": 100})
@example(frame={"type": "sync", "room": 2**80, "after": 2**80})
@example(frame={"type": "typing", "room": MY_ROOM})
@example(frame={"type": "read", "room": MY_ROOM, "seq": BIGINT_MAX + 1})
@example(frame={"type": "read", "room": MY_ROOM, "seq": BIGINT_MAX})
@example(frame={"type": "edit", "room": MY_ROOM, "id": MY_MESSAGE, "body": "changed"})
@example(frame={"type": "edit", "room": MY_ROOM, "id": FRIENDS_MESSAGE, "body": "mine now"})
@example(frame={"type": "edit", "room": OTHERS_ROOM, "id": OTHERS_MESSAGE, "body": "mine now"})
@example(frame={"type": "delete", "room": MY_ROOM, "id": OTHERS_MESSAGE})
@example(frame={"type": "delete", "room": MY_ROOM, "id": MY_MESSAGE})
@example(frame={"type": "auth", "ticket": "anything"})
@example(frame={"type": "send", "room": MY_ROOM, "body": "é" * 40000, "client_id": "x"})
@example(frame={"type": "history", "room": MY_ROOM, "limit": math.inf})
def test_any_frame_gets_its_documented_answer_and_only_valid_sends_are_stored(world, frame):
    run_frame(world, frame)


@FUZZ
@given(text=st.text(max_size=200) | st.text(alphabet='{}[]":,0123456789 ', max_size=40))
@example(text="")
@example(text="{")
@example(text="NaN")
@example(text='{"type": "ping"')
@example(text='{"type": "ping", "type": "send"}')
def test_arbitrary_text_frames_are_parsed_or_refused(world, text):
    try:
        frame = json.loads(text)
    except ValueError:
        frame = None  # not JSON: answered like any frame that is not an object
    run_text(world, text, frame)


async def binary_exchange(world: World, data: bytes) -> None:
    socket = await Socket(member_headers(world)).open()
    try:
        assert (await socket.frame())["type"] == "hello"
        await socket.send_bytes(data)
        replies, code = await socket.replies_until_pong()
        if len(data) > settings.CHAT_FRAME_MAX_BYTES:
            assert (replies, code) == ([], 1009)
        else:
            assert code is None
            assert [(r["type"], r["code"]) for r in replies] == [("error", "bad_request")]
    finally:
        await socket.shut()


@hypothesis_settings(FUZZ, max_examples=40)
@given(data=st.binary(max_size=300))
@example(data=b"")
@example(data=json.dumps({"type": "ping"}).encode())
@example(data=b"\x00" * (64 * 1024 + 1))
def test_binary_frames_are_refused_and_the_socket_stays_open(world, data):
    rows = snapshot()
    async_to_sync(binary_exchange)(world, data)
    assert snapshot() == rows


async def unauthenticated_exchange(text: str, expected_code: int) -> None:
    socket = await Socket([]).open()
    try:
        await socket.send_text(text)
        output = await socket.output()
        assert output["type"] == "websocket.close", output
        assert output.get("code") == expected_code
    finally:
        await socket.shut()


@hypothesis_settings(FUZZ, max_examples=60)
@given(frame=any_frames)
@example(frame={"type": "auth", "ticket": "not-a-ticket"})
@example(frame={"type": "auth", "ticket": ["a"]})
@example(frame={"type": "auth", "ticket": "\ud800"})
@example(frame={"type": "auth"})
@example(frame={"type": "send", "room": MY_ROOM, "body": "hi", "client_id": str(uuid.uuid4())})
def test_a_socket_without_credentials_is_closed_4401_by_any_first_frame(world, frame):
    """No ticket can be guessed: whatever comes first, the socket closes and stores nothing."""
    text = json.dumps(resolve(frame, world))
    too_big = len(text.encode()) > settings.CHAT_FRAME_MAX_BYTES
    rows = snapshot()
    async_to_sync(unauthenticated_exchange)(text, 1009 if too_big else 4401)
    assert snapshot() == rows


@pytest.mark.parametrize(
    "body",
    ["é" * (32 * 1024 + 10), "x" * (64 * 1024), "😀" * (16 * 1024 + 1)],
    ids=["two-byte-chars", "ascii", "four-byte-chars"],
)
def test_frames_over_64_kib_close_with_1009_and_store_nothing(world, body):
    run_frame(
        world, {"type": "send", "room": MY_ROOM, "body": body, "client_id": str(uuid.uuid4())}
    )


def test_a_resent_send_is_answered_with_the_stored_message(world):
    client_id = str(uuid.uuid4())
    frame = {"type": "send", "room": world.my_room_id, "body": "once", "client_id": client_id}
    run_frame(world, frame)
    message_id = Message.objects.get(client_id=client_id).id

    async def resend():
        socket = await Socket(member_headers(world)).open()
        try:
            await socket.frame()
            await socket.send_text(json.dumps(frame))
            replies, _ = await socket.replies_until_pong()
            if not replies:
                replies = [await socket.frame(timeout=0.5)]
            assert [(r["type"], r["message"]["id"]) for r in replies] == [("message", message_id)]
        finally:
            await socket.shut()

    async_to_sync(resend)()
