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
import unicodedata
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from attachments.models import Attachment
from attachments.services import attachment_upload
from chat import services
from chat.emoji_data import reaction_emoji
from chat.models import BIGINT_MAX, Message, Reaction, Room
from config.asgi import application
from tests.accounts.images import gif_bomb, image_bytes, png_bomb, webp_bomb
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
MY_UPLOAD = RoomRef("MY_UPLOAD")  # a fresh upload of the user's to their room, not yet posted
FRIENDS_UPLOAD = RoomRef("FRIENDS_UPLOAD")  # the owner's unposted upload in the user's room
OTHERS_UPLOAD = RoomRef("OTHERS_UPLOAD")  # an unposted upload in a room the user is not in
POSTED_UPLOAD = RoomRef("POSTED_UPLOAD")  # the user's upload, already posted with a message
FRIEND = RoomRef("FRIEND")  # the person who shares the user's room
STRANGER = RoomRef("STRANGER")  # a person who shares no room with the user

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
FRAME_TYPES = [
    "send",
    "history",
    "sync",
    "edit",
    "delete",
    "read",
    "typing",
    "ping",
    "activity",
    "presence",
    "receipts",
    "card",
    "rooms",
    "react",
    "unreact",
    "members",
    "auth",
]
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
emojis = (
    st.sampled_from(["👍", "❤️", "❤", "👍🏽", "🇫🇷", "👨‍👩‍👧", "👍👍", ":+1:", "", " 👍"])
    | st.text(max_size=4)
    | json_scalars
)
limits = st.integers(min_value=-2, max_value=150) | json_scalars
uploads = st.sampled_from([MY_UPLOAD, FRIENDS_UPLOAD, OTHERS_UPLOAD, POSTED_UPLOAD]) | positions
attachment_lists = (
    st.lists(uploads, max_size=12) | st.lists(st.just(MY_UPLOAD), min_size=1, max_size=3)
) | json_scalars
people = st.sampled_from([FRIEND, STRANGER]) | positions
shaped_frames = st.fixed_dictionaries(
    {"type": frame_types},
    optional={
        "room": rooms,
        "client_id": client_ids,
        "body": bodies,
        "before": positions,
        "around": positions,
        "after": positions,
        "limit": limits,
        "seq": positions,
        "id": message_ids,
        "reply_to": message_ids,
        "emoji": emojis,
        "ticket": st.text(max_size=50) | json_scalars,
        "attachments": attachment_lists,
        "state": st.sampled_from(["active", "idle"]) | json_scalars,
        "time_zone": st.sampled_from(["Europe/Paris", "Mars/Olympus", "localtime"]) | json_scalars,
        "users": st.lists(people, max_size=4) | st.lists(positions, min_size=99, max_size=102),
        "user": people,
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
    friend_id: int
    stranger_id: int
    friend: object
    stranger: object
    posted_upload_id: int


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
    posted = upload_to(user, mine.id)
    services.message_post(
        author=user, room_id=mine.id, body="my own", client_id=uuid.uuid4(), attachments=[posted]
    )
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_cookie(user)}"
    return World(
        user,
        mine.id,
        others.id,
        friends.id,
        strangers.id,
        cookie,
        friend.id,
        stranger.id,
        friend,
        stranger,
        posted,
    )


def upload_to(user, room_id: int) -> int:
    """A small file uploaded by `user` to the room, not yet posted: its id."""
    file = SimpleUploadedFile("notes.txt", b"some notes", content_type="text/plain")
    return attachment_upload(uploader=user, room_id=room_id, upload=file).id


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
    if value is MY_UPLOAD:
        return upload_to(world.user, world.my_room_id)
    if value is FRIENDS_UPLOAD:
        return upload_to(world.friend, world.my_room_id)
    if value is OTHERS_UPLOAD:
        return upload_to(world.stranger, world.others_room_id)
    if value is POSTED_UPLOAD:
        return world.posted_upload_id
    if value is FRIEND:
        return world.friend_id
    if value is STRANGER:
        return world.stranger_id
    if isinstance(value, dict):
        return {key: resolve(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, world) for item in value]
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


def _clean_body(body, *, required: bool = True) -> tuple[str, str]:
    """("ok", stripped body) or ("error", code), as the protocol describes a valid body (which
    may be absent or blank in a message with attachments)."""
    if body is None and not required:
        return "ok", ""
    if not isinstance(body, str) or (required and not body.strip()):
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


def reactions_snapshot() -> set[tuple[int, int, str]]:
    return set(Reaction.objects.values_list("message_id", "user_id", "emoji"))


def predict(frame, world: World, rows: Rows, reactions=frozenset()) -> tuple[str, object]:
    """What the protocol says the answer is: ("error", code) | ("reply", frame type) |
    ("stored", body) | ("resent", message id) | ("updated", (id, body, deleted)) |
    ("reacted", (id, emoji, present)) | ("silent", "")."""
    if not isinstance(frame, dict) or frame.get("type") not in FRAME_TYPES[:-1]:
        return "error", "bad_request"  # includes "auth" on a socket that is already signed in
    kind = frame["type"]
    if kind == "ping":
        return "reply", "pong"
    if kind in {"activity", "presence", "card"}:
        return predict_about_people(frame, world)
    if kind == "rooms":
        return "reply", "rooms"
    room = frame.get("room")
    if not _is_id(room):
        return "error", "bad_request"
    member = room == world.my_room_id
    if kind == "send":
        client_id = _uuid(frame.get("client_id"))
        reply_to = frame.get("reply_to")
        if client_id is None or not (reply_to is None or _is_id(reply_to)):
            return "error", "bad_request"
        attachments = frame.get("attachments")
        attachments = [] if attachments is None else attachments
        if not isinstance(attachments, list) or not all(_is_id(a) for a in attachments):
            return "error", "bad_request"
        attachments = list(dict.fromkeys(attachments))
        if len(attachments) > settings.ATTACHMENT_MAX_PER_MESSAGE:
            return "error", "bad_request"
        status, body = _clean_body(frame.get("body"), required=not attachments)
        if status == "error":
            return status, body
        mine = {row[2]: (id_, row[0]) for id_, row in rows.items() if row[1] == world.user.id}
        if str(client_id) in mine:
            id_, earlier_room = mine[str(client_id)]
            return ("resent", id_) if earlier_room == room else ("error", "conflict")
        if not member:
            return "error", "not_found"
        original = rows.get(reply_to)
        if reply_to is not None and (original is None or original[0] != room or original[4]):
            return "error", "not_found"
        postable = Attachment.objects.filter(
            id__in=attachments, uploader=world.user, room_id=room, message__isnull=True
        )
        if postable.count() != len(attachments):
            return "error", "not_found"
        return "stored", body
    if kind == "members":
        return ("reply", "members") if member else ("error", "not_found")
    if kind in {"react", "unreact"}:
        message_id, emoji = frame.get("id"), frame.get("emoji")
        if not _is_id(message_id) or not isinstance(emoji, str) or emoji not in reaction_emoji():
            return "error", "bad_request"
        row = rows.get(message_id)
        if not member or row is None or row[0] != room or row[4]:
            return "error", "not_found"
        mine = {e for m, u, e in reactions if m == message_id and u == world.user.id}
        if (emoji in mine) == (kind == "react"):
            return "silent", ""
        if kind == "react" and len(mine) >= settings.CHAT_REACTIONS_PER_MESSAGE:
            return "error", "forbidden"
        return "reacted", (message_id, emoji, kind == "react")
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
        if not _is_seq(frame, "around", required=False):
            return "error", "bad_request"
        if frame.get("before") is not None and frame.get("around") is not None:
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
    if kind == "receipts":
        return ("reply", "receipts") if member else ("error", "not_found")
    return ("silent", "") if member else ("error", "not_found")  # typing


# Zones the strategies use that zoneinfo knows on every machine ("localtime" names no zone).
KNOWN_ZONES = {"Europe/Paris"}


def predict_about_people(frame: dict, world: World) -> tuple[str, object]:
    """activity, presence and card: frames about people rather than rooms."""
    visible = {world.user.id, world.friend_id}  # the user and who shares a room with them
    if frame["type"] == "activity":
        zone = frame.get("time_zone")
        if frame.get("state") not in {"active", "idle"}:
            return "error", "bad_request"
        if zone is not None and zone not in KNOWN_ZONES:
            return "error", "bad_request"
        return "silent", ""
    if frame["type"] == "card":
        user_id = frame.get("user")
        if not _is_id(user_id):
            return "error", "bad_request"
        return ("card", user_id) if user_id in visible else ("error", "not_found")
    users = frame.get("users")
    if not isinstance(users, list) or not 1 <= len(users) <= 100:
        return "error", "bad_request"
    if not all(_is_id(user_id) for user_id in users):
        return "error", "bad_request"
    return "presence", sorted(visible & set(users))


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


def expected_reactions(reactions: set, expected: tuple[str, object], world: World) -> set:
    """The reactions after the frame: one more or fewer for a reaction, none on a message
    just deleted."""
    outcome, detail = expected
    if outcome == "reacted":
        message_id, emoji, present = detail
        change = {(message_id, world.user.id, emoji)}
        return reactions | change if present else reactions - change
    if outcome == "updated" and detail[2]:
        return {r for r in reactions if r[0] != detail[0]}
    return reactions


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
    elif outcome == "reply" and detail == "members":
        assert [r["type"] for r in replies] == ["members"], replies
        assert world.user.id in [m["id"] for m in replies[0]["members"]]
    elif outcome == "reply" and detail == "receipts":
        assert [(r["type"], r["room"], r["shown"]) for r in replies] == [
            ("receipts", world.my_room_id, True)
        ]
    elif outcome == "reply" and detail == "rooms":
        assert [r["type"] for r in replies] == ["rooms"], replies
        assert [room["id"] for room in replies[0]["rooms"]] == [world.my_room_id]
    elif outcome == "reply" and detail == "members":
        assert [(r["type"], r["room"], r["count"]) for r in replies] == [
            ("members", world.my_room_id, 2)
        ]
        assert {m["id"] for m in replies[0]["members"]} == {world.user.id, world.friend_id}
    elif outcome == "reply":
        assert [r["type"] for r in replies] == [detail], replies
        assert replies[0]["room"] == world.my_room_id
        assert all(m["room"] == world.my_room_id for m in replies[0]["messages"])
    elif outcome == "card":
        assert [(r["type"], r["user"]["id"]) for r in replies] == [("card", detail)], replies
    elif outcome == "presence":
        assert [r["type"] for r in replies] == ["presence"], replies
        assert [person["id"] for person in replies[0]["users"]] == detail
    elif outcome == "stored":
        assert [r["type"] for r in replies] == ["message"], replies
        message = replies[0]["message"]
        assert (message["room"], message["body"]) == (world.my_room_id, detail)
        for attachment in message["attachments"]:
            assert set(attachment) == ATTACHMENT_FIELDS
            assert attachment["url"].startswith(f"/files/{attachment['id']}/")
    elif outcome == "resent":
        # docs/protocol.md: a resend "answers with the stored message"; the consumer answers
        # nothing today (test_a_resent_send_is_answered_with_the_stored_message).
        assert [r["message"]["id"] for r in replies if r["type"] == "message"] in ([], [detail])
        assert all(r["type"] == "message" for r in replies), replies
    elif outcome == "reacted":
        message_id, emoji, present = detail
        assert [r["type"] for r in replies] == ["message.updated"], replies
        message = replies[0]["message"]
        mine = [
            r["emoji"]
            for r in message["reactions"]
            if world.user.id in [u["id"] for u in r["users"]]
        ]
        assert message["id"] == message_id and (emoji in mine) is present
    elif outcome == "updated":
        message_id, body, deleted = detail
        assert [r["type"] for r in replies] == ["message.updated"], replies
        message = replies[0]["message"]
        assert (message["id"], message["body"], message["deleted"]) == (message_id, body, deleted)
    else:
        assert replies == [], replies


BROADCAST_OUTCOMES = {"stored", "updated", "reacted"}
ATTACHMENT_FIELDS = {
    *("id", "name", "size", "content_type", "kind"),
    *("width", "height", "url", "thumbnail_url"),
}


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
    rows, reactions = snapshot(), reactions_snapshot()
    if len(text.encode()) > settings.CHAT_FRAME_MAX_BYTES:
        expected = ("close", 1009)
    else:
        expected = predict(frame, world, rows, reactions)
    async_to_sync(exchange)(world, text, expected)
    assert reactions_snapshot() == expected_reactions(reactions, expected, world)
    after = snapshot()
    if expected[0] == "stored":
        new = {id_: row for id_, row in after.items() if id_ not in rows}
        client_id = str(uuid.UUID(frame["client_id"]))
        assert list(new.values()) == [
            (world.my_room_id, world.user.id, client_id, expected[1], False)
        ]
        posted = Attachment.objects.filter(message_id__in=new).values_list("id", flat=True)
        assert sorted(posted) == sorted(set(frame.get("attachments") or []))
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
@example(frame={"type": "react", "room": MY_ROOM, "id": FRIENDS_MESSAGE, "emoji": "👍"})
@example(frame={"type": "unreact", "room": MY_ROOM, "id": FRIENDS_MESSAGE, "emoji": "👍"})
@example(frame={"type": "react", "room": MY_ROOM, "id": OTHERS_MESSAGE, "emoji": "👍"})
@example(frame={"type": "react", "room": MY_ROOM, "id": MY_MESSAGE, "emoji": "❤"})
@example(frame={"type": "members", "room": MY_ROOM})
@example(frame={"type": "members", "room": OTHERS_ROOM})
@example(
    frame={
        "type": "send",
        "room": MY_ROOM,
        "body": "**re** @" + "x" * 3,
        "client_id": str(uuid.uuid4()),
        "reply_to": FRIENDS_MESSAGE,
    }
)
@example(
    frame={
        "type": "send",
        "room": MY_ROOM,
        "body": "re",
        "client_id": str(uuid.uuid4()),
        "reply_to": OTHERS_MESSAGE,
    }
)
@example(frame={"type": "send", "room": MY_ROOM, "body": "é" * 40000, "client_id": "x"})
@example(frame={"type": "history", "room": MY_ROOM, "limit": math.inf})
@example(frame={"type": "send", "room": MY_ROOM, "client_id": "0" * 32, "attachments": [MY_UPLOAD]})
@example(
    frame={
        "type": "send",
        "room": MY_ROOM,
        "body": "both",
        "client_id": str(uuid.uuid4()),
        "attachments": [MY_UPLOAD, MY_UPLOAD, FRIENDS_UPLOAD],
    }
)
@example(
    frame={
        "type": "send",
        "room": MY_ROOM,
        "body": " ",
        "client_id": str(uuid.uuid4()),
        "attachments": [POSTED_UPLOAD],
    }
)
@example(
    frame={
        "type": "send",
        "room": OTHERS_ROOM,
        "client_id": str(uuid.uuid4()),
        "attachments": [OTHERS_UPLOAD],
    }
)
@example(frame={"type": "send", "room": MY_ROOM, "client_id": "1" * 32, "attachments": [0]})
@example(frame={"type": "send", "room": MY_ROOM, "client_id": "2" * 32, "attachments": "1"})
@example(frame={"type": "presence", "users": [FRIEND, STRANGER, 2**80]})
@example(frame={"type": "presence", "users": [FRIEND, STRANGER, 1]})
@example(frame={"type": "card", "user": STRANGER})
@example(frame={"type": "card", "user": FRIEND})
@example(frame={"type": "receipts", "room": OTHERS_ROOM})
@example(frame={"type": "receipts", "room": MY_ROOM})
@example(frame={"type": "activity", "state": "idle", "time_zone": "Europe/Paris"})
@example(frame={"type": "activity", "state": "idle", "time_zone": "Mars/Olympus"})
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


# Hostile uploads: whatever the file and its name, a clear answer and nothing crashes.

UPLOAD_ANSWERS = {201, 400, 413}
POLYGLOT_TAILS = [
    b"<html><script>alert(1)</script></html>",
    b"*/=1;alert(document.domain)//",
    b"<svg onload=alert(1)>",
]
SAFE_TYPES = {
    *("image/jpeg", "image/png", "text/plain; charset=utf-8", "application/pdf"),
    *("application/zip", "application/gzip", "audio/ogg", "audio/mpeg", "video/webm"),
    *("video/mp4", "application/octet-stream"),
}
pictures = st.sampled_from(
    [image_bytes(fmt, size=(24, 16)) for fmt in ("JPEG", "PNG", "GIF", "WEBP")]
)
hostile_files = (
    st.binary(max_size=2000)
    | st.builds(lambda p, n: p[:n], pictures, st.integers(0, 400))  # truncated pictures
    | st.builds(lambda p, tail: p + tail, pictures, st.sampled_from(POLYGLOT_TAILS))
    | st.builds(lambda tail: b"GIF89a" + tail, st.sampled_from(POLYGLOT_TAILS))
    | st.sampled_from([b"", png_bomb(), gif_bomb(), webp_bomb(), b"%PDF-1.7" + b"\x00" * 50])
)
hostile_names = (
    st.text(max_size=60)
    | st.text(alphabet="/\\.\x00\x01\x1b\n\r\t\u202e\u200b\u00a0 a", max_size=30)
    | st.builds(lambda n, ext: "x" * n + ext, st.integers(190, 1000), st.sampled_from(["", ".png"]))
    | st.sampled_from(["../../etc/passwd", "C:\\boot.ini", "..", "a" * 1000, "evil\u202egnp.js"])
)


def multipart_file(name: str, content: bytes) -> tuple[bytes, str]:
    """A multipart body with one file field, its name sent as a browser may (RFC 5987), so
    that any characters at all reach the server; the body and its content type."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f"filename*=UTF-8''{quote(name, safe='')}\r\nContent-Type: image/png\r\n\r\n"
    )
    body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@hypothesis_settings(FUZZ, max_examples=80)
@given(content=hostile_files, name=hostile_names)
@example(content=b"", name="empty.txt")
@example(content=png_bomb(), name="bomb.png")
@example(content=b"GIF89a/*<script>alert(1)</script>*/", name="../x.gif")
def test_hostile_uploads_get_a_clear_answer_and_a_clean_name(world, content, name):
    client = Client()
    client.force_login(world.user)
    body, content_type = multipart_file(name, content)
    url = f"/api/rooms/{world.my_room_id}/attachments/"
    response = client.generic("POST", url, body, content_type=content_type)
    assert response.status_code in UPLOAD_ANSWERS, response.content[:300]
    answer = response.json()
    if response.status_code != 201:
        assert set(answer) == {"code", "detail"} and answer["detail"], answer
        return
    shown = answer["name"]
    assert 1 <= len(shown) <= 200 and "/" not in shown and "\\" not in shown
    assert not any(unicodedata.category(c)[0] == "C" for c in shown), shown
    assert answer["content_type"] in SAFE_TYPES
    if answer["kind"] == "image":
        assert answer["width"] * answer["height"] <= settings.IMAGE_MAX_PIXELS
