"""Who can reach which room through which door: every cell of the access matrix, and no leaks.

Actors by room kinds by channels. The table below is the specification: each cell names the one
outcome that actor must get on that channel for that kind of room. The HTTP columns run in a
rolled-back transaction; the socket columns drive the real ASGI application.

Every actor whose credential belonged to a member (deactivated, cross-site page, stale ticket,
revoked token) was a member of the room: the worst case, a stolen or outdated credential of
someone who could read it. The outsider and staff (a superuser) were never invited.
"""

import asyncio
import json
import uuid
from dataclasses import dataclass, field

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import SocketTicket
from attachments import services as attachment_services
from attachments.models import Attachment
from attachments.serializers import attachment_dict
from chat import queries, services
from chat.formatting import render
from chat.models import Membership, Message, Reaction, Room
from config.asgi import application
from tests.accounts.images import image_bytes, upload
from tests.chat.conftest import ORIGIN, session_cookie
from tests.factories import UserFactory, make_room, new_client_id

EVIL_ORIGIN = "https://evil.example"
SECRET_PICTURE = image_bytes("PNG", size=(40, 30))
MISSING_ROOM_ID = 2_000_000_000
INTRUSION = "intrusion"
EMOJI = "👍"

ACTORS = (
    "anonymous",
    "outsider",
    "member",
    "removed_member",
    "staff",
    "deactivated",
    "cross_site",
    "stale_ticket",
    "revoked_token",
)
KINDS = ("public", "private", "direct")
HTTP_CHANNELS = (
    *("page", "history_api", "post_api", "react_api"),
    *("upload_api", "file", "file_api"),
)
SOCKET_CHANNELS = (
    "hello",
    "send",
    "history",
    "sync",
    "live",
    "presence",
    "receipts",
    "typing",
    "card",
    "react",
    "reply",
)
STORED_CHANNELS = ("mention",)
CHANNELS = HTTP_CHANNELS + SOCKET_CHANNELS + STORED_CHANNELS

# Outcomes.
#   page:        200 (the room, with its history) | preview (200, the room's history read-only
#                with a Join button, and the actor is still not a member: public rooms are open
#                to every signed-in user, but only a POST joins) | own_dm (200, but the page that
#                starts the actor's own direct chat with that person: not this room, and a GET
#                creates none) | 404 | lost (403 "You no longer have access to this room", no
#                message) | login (302 to the login page) | sop (200 to the browser,
#                unreadable by the other site: no CORS header, never framed)
#   history_api: 200 | 404 | 401 | sop
#   post_api:    201 (stored) | 404 | 401 | 403 (CSRF)
#   upload_api:  201 (stored) | 404 | 401 | 403 (CSRF)
#   file:        200 (the posted picture and its thumbnail, by session and by token) | 404 (the
#                same as for a file that does not exist: for anonymous visitors and other sites'
#                pages too, never a log-in redirect or a 403)
#   file_api:    200 (the posted picture from GET /api/attachments/{id}/) | 404 (other sites'
#                pages too) | 401 (no credential that holds, as every API operation)
#   react_api:   200 (the reaction stored on the room's message) | 404 | 401 | 403 (CSRF)
#   hello:       listed | absent (hello without this room) | 4401 | 4403 | 4408
#   send, reply: stored (reply: quoting the room's message) | not_found | 4401 | 4403
#   history/sync: ok (the room's messages) | not_found | 4401 | 4403
#   live:        delivered (the poster's message, typing, read receipt and presence) | nothing
#                (no frame from this room or about its people within the window)
#   presence:    told (the poster's presence) | untold (an answer naming nobody) | 4401 | 4403
#   receipts:    ok (the room's read receipts) | not_found | 4401 | 4403
#   typing:      ok (no error) | not_found | 4401 | 4403
#   card:        card (the poster's profile card) | not_found (as for nobody) | 4401 | 4403
#   react:       reacted (the room sees the message with the reaction) | not_found | 4401 | 4403
#   mention:     mentioned (a member posts "@actor": stored as a mention, counted for the actor)
#                | plain (stored and shown exactly as the mention of a name nobody has)
# A not_found / 404 answer is identical to the answer for a room that does not exist.
_ANON = ("login", "401", "401", "401", "401", "404", "401")
_ANON += ("4408", *["4401"] * 3, "nothing", *["4401"] * 6, "plain")
_MEMBER = ("200", "200", "201", "200", "201", "200", "200")
_MEMBER += ("listed", "stored", "ok", "ok", "delivered")
_MEMBER += ("told", "ok", "ok", "card", "reacted", "stored", "mentioned")
_CUT_OFF = ("login", "401", "401", "401", "401", "404", "401")
_CUT_OFF += (*["4401"] * 4, "nothing", *["4401"] * 6, "plain")
# A stale ticket or a revoked token opens nothing, but its owner is still a member.
_CUT_OFF_MEMBER = (*_CUT_OFF[:-1], "mentioned")
_CROSS_SITE = ("sop", "sop", "403", "403", "403", "404", "404")
_CROSS_SITE += (*["4403"] * 4, "nothing", *["4403"] * 6, "mentioned")
_OUTSIDE = ("404", "404", "404", "404", "404", "404", "404")
_OUTSIDE += ("absent", "not_found", "not_found", "not_found", "nothing")
_OUTSIDE += ("untold", "not_found", "not_found", "not_found", "not_found", "not_found", "plain")
_PREVIEW = ("preview", *_OUTSIDE[1:])
_OWN_DM = ("own_dm", *_OUTSIDE[1:])
# A former member of a private room is told they lost it (a 403 naming the room, no message).
_LOST = ("lost", *_OUTSIDE[1:])

# (actor, kind): one outcome per channel, in the order of CHANNELS
TABLE: dict[tuple[str, str], tuple[str, ...]] = {
    ("anonymous", "public"): _ANON,
    ("anonymous", "private"): _ANON,
    ("anonymous", "direct"): _ANON,
    ("outsider", "public"): _PREVIEW,
    ("outsider", "private"): _OUTSIDE,
    ("outsider", "direct"): _OWN_DM,
    ("member", "public"): _MEMBER,
    ("member", "private"): _MEMBER,
    ("member", "direct"): _MEMBER,
    # Leaving a public room is not a ban: its page is a preview again, like any outsider's.
    ("removed_member", "public"): _PREVIEW,
    ("removed_member", "private"): _LOST,
    ("removed_member", "direct"): _OUTSIDE,
    ("staff", "public"): _PREVIEW,
    ("staff", "private"): _OUTSIDE,
    ("staff", "direct"): _OWN_DM,
    ("deactivated", "public"): _CUT_OFF,
    ("deactivated", "private"): _CUT_OFF,
    ("deactivated", "direct"): _CUT_OFF,
    ("cross_site", "public"): _CROSS_SITE,
    ("cross_site", "private"): _CROSS_SITE,
    ("cross_site", "direct"): _CROSS_SITE,
    ("stale_ticket", "public"): _CUT_OFF_MEMBER,
    ("stale_ticket", "private"): _CUT_OFF_MEMBER,
    ("stale_ticket", "direct"): _CUT_OFF_MEMBER,
    ("revoked_token", "public"): _CUT_OFF_MEMBER,
    ("revoked_token", "private"): _CUT_OFF_MEMBER,
    ("revoked_token", "direct"): _CUT_OFF_MEMBER,
}

EXPECTED: dict[tuple[str, str, str], str] = {
    (actor, kind, channel): outcome
    for (actor, kind), row in TABLE.items()
    for channel, outcome in zip(CHANNELS, row, strict=True)
}


# Cells the application does not meet yet, each a reported defect.
def cells(channels) -> list:
    return list(_cells(channels))


def _cells(channels):
    for actor in ACTORS:
        for kind in KINDS:
            for channel in channels:
                yield pytest.param(actor, kind, channel, id=f"{actor}-{kind}-{channel}")


def test_the_table_names_an_outcome_for_every_cell():
    assert len(TABLE) == len(ACTORS) * len(KINDS)
    assert len(EXPECTED) == len(ACTORS) * len(KINDS) * len(CHANNELS) == 513


# The world of one cell: a room of the kind, its owner (who posts), one secret message, and the
# actor in the state its name describes.


@dataclass
class World:
    actor: str
    kind: str
    room: Room
    poster: object
    user: object = None
    secret: str = ""
    attachment: dict = field(default_factory=dict)
    secret_id: int = 0
    token_key: str = ""
    tickets: list[str] = field(default_factory=list)


MEMBER_CREDENTIAL_ACTORS = {
    "member",
    "removed_member",
    "deactivated",
    "cross_site",
    "stale_ticket",
    "revoked_token",
}


def build_world(actor: str, kind: str) -> World:
    """The room, its secret, and the actor before its credential goes stale."""
    poster = UserFactory()
    if actor in MEMBER_CREDENTIAL_ACTORS:
        user = UserFactory()
        room = make_room(kind, poster, user)
    else:
        user = UserFactory(is_staff=True, is_superuser=True) if actor == "staff" else None
        if actor == "outsider":
            user = UserFactory()
        room = make_room(kind, poster, UserFactory())
    secret = f"secret of the {kind} room {uuid.uuid4().hex[:8]}"
    picture = attachment_services.attachment_upload(
        uploader=poster, room_id=room.id, upload=upload(SECRET_PICTURE, "photo.png", "image/png")
    )
    message, _ = services.message_post(
        author=poster,
        room_id=room.id,
        body=secret,
        client_id=uuid.uuid4(),
        attachments=[picture.id],
    )
    services.room_mark_read(user=poster, room_id=room.id, seq=1)  # a read receipt to learn
    world = World(
        actor=actor,
        kind=kind,
        room=room,
        poster=poster,
        user=user,
        secret=secret,
        attachment=attachment_dict(picture),
        secret_id=message.id,
    )
    if user is not None:
        _, world.token_key = account_services.api_token_create(user=user, name="cell")
    return world


def spoil(world: World) -> None:
    """Put the actor's credential or membership into the state its name describes."""
    user, room = world.user, world.room
    if world.actor == "removed_member":
        if world.kind == "public":
            services.room_leave(user=user, room_id=room.id)
        elif world.kind == "private":
            services.member_remove(actor=world.poster, room_id=room.id, user_id=user.id)
        else:
            # No service removes anyone from a direct chat; an operator could, in the database.
            Membership.objects.filter(room=room, user=user).delete()
    elif world.actor == "deactivated":
        user.is_active = False
        user.save()
    elif world.actor == "revoked_token":
        token_id = account_services.api_token_authenticate(key=world.token_key).id
        assert account_services.api_token_revoke(user=user, token_id=token_id)
    elif world.actor == "stale_ticket":
        used = account_services.socket_ticket_issue(user=user)
        assert account_services.socket_ticket_redeem(key=used) is not None
        expired = account_services.socket_ticket_issue(user=user)
        SocketTicket.objects.filter(used_at__isnull=True).update(expires_at=timezone.now())
        world.tickets = [expired, used]


def stored_intrusions() -> int:
    """Messages and reactions the actor managed to store."""
    return Message.objects.filter(body=INTRUSION).count() + Reaction.objects.count()


# HTTP channels: pages and the JSON API.


def http_clients(world: World) -> list[tuple[Client, dict]]:
    """Every way this actor presents itself over HTTP, each with its extra request headers."""
    actor = world.actor
    if actor == "anonymous":
        return [(Client(), {})]
    if actor == "cross_site":
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(world.user)
        # What a browser says of a request that another site's page makes.
        headers = {
            "HTTP_ORIGIN": EVIL_ORIGIN,
            "HTTP_REFERER": f"{EVIL_ORIGIN}/",
            "HTTP_SEC_FETCH_SITE": "cross-site",
        }
        return [(browser, headers)]
    if actor == "stale_ticket":
        return [(Client(), {"HTTP_AUTHORIZATION": f"Bearer {t}"}) for t in world.tickets]
    if actor == "revoked_token":
        return [(Client(), {"HTTP_AUTHORIZATION": f"Bearer {world.token_key}"})]
    browser = Client()
    browser.force_login(world.user)
    if actor == "deactivated":
        # The session (with CSRF satisfied) and the user's API token both stop working.
        return [(browser, {}), (Client(), {"HTTP_AUTHORIZATION": f"Bearer {world.token_key}"})]
    return [(browser, {})]


def api_clients(world: World) -> list[tuple[Client, dict]]:
    if world.actor in {"outsider", "member", "removed_member", "staff"}:
        return [(Client(), {"HTTP_AUTHORIZATION": f"Bearer {world.token_key}"})]
    return http_clients(world)


def page_url(world: World) -> str:
    if world.kind == "direct":
        return f"/chat/dm/{world.poster.username}/"
    return f"/chat/r/{world.room.slug}/"


def assert_unreadable_cross_site(response) -> None:
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def check_page(world: World, expected: str) -> None:
    for client, headers in http_clients(world):
        url = page_url(world)
        if world.actor == "stale_ticket":
            url += f"?ticket={headers['HTTP_AUTHORIZATION'].split()[1]}"
        response = client.get(url, **headers)
        body = response.content.decode()
        if expected == "login":
            assert response.status_code == 302
            assert response.url.startswith(reverse(settings.LOGIN_URL))
        elif expected == "404":
            assert response.status_code == 404
            assert world.secret not in body
        elif expected in {"200", "preview", "sop"}:
            assert response.status_code == 200
            assert response.context["room"].id == world.room.id
            assert world.secret in body
            if expected == "sop":
                assert_unreadable_cross_site(response)
        elif expected == "lost":
            assert response.status_code == 403
            assert "You no longer have access to this room" in body
            assert world.secret not in body
        elif expected == "own_dm":
            assert response.status_code == 200
            assert response.context["direct_partner"].id == world.poster.id
            assert "open" not in response.context  # the workspace opened no conversation
            assert world.secret not in body
        else:
            raise AssertionError(f"unknown page outcome {expected}")
    if world.actor in {"outsider", "staff", "removed_member"}:
        # A GET changes nothing: no membership, no direct room.
        assert not Membership.objects.filter(room=world.room, user=world.user).exists()
        if expected == "own_dm":
            assert not Room.objects.filter(kind="direct", memberships__user=world.user).exists()


def check_history_api(world: World, expected: str) -> None:
    for client, headers in api_clients(world):
        response = client.get(f"/api/rooms/{world.room.id}/messages/", **headers)
        if expected in {"200", "sop"}:
            assert response.status_code == 200
            assert [m["body"] for m in response.json()["messages"]] == [world.secret]
            if expected == "sop":
                assert_unreadable_cross_site(response)
        elif expected == "404":
            missing = client.get(f"/api/rooms/{MISSING_ROOM_ID}/messages/", **headers)
            assert (response.status_code, response.json()) == (404, missing.json())
        else:
            assert response.status_code == int(expected)
            assert world.secret not in response.content.decode()


def check_post_api(world: World, expected: str) -> None:
    for client, headers in api_clients(world):
        payload = {"body": INTRUSION, "client_id": new_client_id()}
        response = client.post(
            f"/api/rooms/{world.room.id}/messages/",
            data=json.dumps(payload),
            content_type="application/json",
            **headers,
        )
        if expected == "201":
            assert response.status_code == 201
            assert response.json()["room"] == world.room.id
            assert stored_intrusions() == 1
            return
        if expected == "404":
            missing = client.post(
                f"/api/rooms/{MISSING_ROOM_ID}/messages/",
                data=json.dumps({**payload, "client_id": new_client_id()}),
                content_type="application/json",
                **headers,
            )
            assert (response.status_code, response.json()) == (404, missing.json())
        else:
            assert response.status_code == int(expected)
        assert stored_intrusions() == 0


def stored_intrusion_uploads() -> int:
    return Attachment.objects.filter(original_name=f"{INTRUSION}.txt").count()


def check_upload_api(world: World, expected: str) -> None:
    for client, headers in api_clients(world):

        def upload_to(room_id: int, client=client, headers=headers):
            intrusion = upload(INTRUSION.encode(), f"{INTRUSION}.txt", "text/plain")
            return client.post(f"/api/rooms/{room_id}/attachments/", {"file": intrusion}, **headers)

        response = upload_to(world.room.id)
        if expected == "201":
            assert response.status_code == 201
            assert stored_intrusion_uploads() == 1
            return
        if expected == "404":
            missing = upload_to(MISSING_ROOM_ID)
            assert (response.status_code, response.json()) == (404, missing.json())
        else:
            assert response.status_code == int(expected)
        assert stored_intrusion_uploads() == 0


def check_file(world: World, expected: str) -> None:
    """The posted picture and its thumbnail, by every credential the actor holds."""
    clients = http_clients(world)
    if world.actor in {"outsider", "member", "removed_member", "staff"}:
        clients += api_clients(world)
    picture = Attachment.objects.get(id=world.attachment["id"])
    for client, headers in clients:
        for url, file in [
            (world.attachment["url"], picture.file),
            (world.attachment["thumbnail_url"], picture.thumbnail),
        ]:
            response = client.get(url, **headers)
            if expected == "200":
                assert response.status_code == 200
                with file.open("rb") as content:
                    assert b"".join(response.streaming_content) == content.read()
            else:
                assert expected == "404"
                missing_url = url.replace(f"/{picture.id}/", f"/{MISSING_ROOM_ID}/")
                missing = client.get(missing_url, **headers)
                assert response.status_code == missing.status_code == 404
                assert not response.streaming
                assert "Location" not in response.headers


def check_file_api(world: World, expected: str) -> None:
    picture = Attachment.objects.get(id=world.attachment["id"])
    for client, headers in api_clients(world):
        response = client.get(f"/api/attachments/{picture.id}/", **headers)
        if expected == "200":
            assert response.status_code == 200
            with picture.file.open("rb") as content:
                assert b"".join(response.streaming_content) == content.read()
        elif expected == "404":
            missing = client.get(f"/api/attachments/{MISSING_ROOM_ID}/", **headers)
            assert (response.status_code, response.json()) == (404, missing.json())
        else:
            assert response.status_code == int(expected)
            assert not response.streaming


def check_react_api(world: World, expected: str) -> None:
    for client, headers in api_clients(world):
        url = f"/api/rooms/{world.room.id}/messages/{world.secret_id}/reactions/{EMOJI}/"
        response = client.put(url, **headers)
        if expected == "200":
            assert response.status_code == 200
            assert response.json()["reactions"][0]["users"][0]["id"] == world.user.id
            assert Reaction.objects.filter(message_id=world.secret_id, user=world.user).exists()
            return
        if expected == "404":
            missing = client.put(
                url.replace(str(world.room.id), str(MISSING_ROOM_ID), 1), **headers
            )
            assert (response.status_code, response.json()) == (404, missing.json())
        else:
            assert response.status_code == int(expected)
        assert world.secret not in response.content.decode()
        assert stored_intrusions() == 0


def check_mention(world: World, expected: str) -> None:
    """A member writes "@actor": a mention only for a member now, else the text that a name
    nobody has gives, so that nothing tells whether the actor exists."""
    name = world.user.username if world.user else "nobody-by-that-name"
    message, _ = services.message_post(
        author=world.poster,
        room_id=world.room.id,
        body=f"@{name} {INTRUSION}",
        client_id=uuid.uuid4(),
    )
    if expected == "mentioned":
        assert (message.mentions, message.mentions_room) == ([world.user.id], False)
        assert f'data-user-id="{world.user.id}">@{name}</span>' in message.body_html
        counted = queries.rooms_for_user(user=world.user, room_id=world.room.id)
        assert [room.mentions for room in counted] == [1]
    else:
        assert expected == "plain"
        assert (message.mentions, message.mentions_room) == ([], False)
        assert message.body_html == render(f"@{name} {INTRUSION}") == f"<p>@{name} {INTRUSION}</p>"


@pytest.mark.django_db
@pytest.mark.parametrize(("actor", "kind", "channel"), cells(HTTP_CHANNELS + STORED_CHANNELS))
def test_http_cell(actor, kind, channel):
    world = build_world(actor, kind)
    spoil(world)
    check = {
        "page": check_page,
        "history_api": check_history_api,
        "post_api": check_post_api,
        "upload_api": check_upload_api,
        "file": check_file,
        "file_api": check_file_api,
        "react_api": check_react_api,
        "mention": check_mention,
    }
    check[channel](world, EXPECTED[actor, kind, channel])


# Socket channels: the real ASGI application through WebsocketCommunicator.

DATA_FRAMES = {
    "hello",
    "message",
    "message.updated",
    "history",
    "sync",
    "typing",
    "room.added",
    "members",
    "presence",
    "receipt",
    "receipts",
    "card",
    "read",
}


@dataclass
class Attempt:
    """One socket the actor opens: its handshake headers and the frames it sends first."""

    headers: list
    first_frames: list = field(default_factory=list)


def socket_attempts(world: World) -> list[Attempt]:
    actor = world.actor
    if actor == "anonymous":
        return [Attempt([])]
    if actor == "stale_ticket":
        return [Attempt([], [{"type": "auth", "ticket": t}]) for t in world.tickets]
    if actor == "revoked_token":
        return [Attempt([(b"authorization", f"Bearer {world.token_key}".encode())])]
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_cookie(world.user)}".encode()
    origin = EVIL_ORIGIN.encode() if actor == "cross_site" else ORIGIN
    return [Attempt([(b"cookie", cookie), (b"origin", origin)])]


class Socket:
    def __init__(self, attempt: Attempt):
        self.communicator = WebsocketCommunicator(application, "/ws/chat/", attempt.headers)
        self.attempt = attempt
        self.frames: list[dict] = []
        self.close_code = None

    async def open(self):
        connected, _ = await self.communicator.connect()
        assert connected
        for frame in self.attempt.first_frames:
            await self.send(frame)
        return self

    async def send(self, frame: dict):
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def next_output(self, timeout: float) -> dict | None:
        """The next frame (also kept in self.frames), or None once the socket is closed."""
        if self.close_code is not None:
            return None
        output = await self.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            self.close_code = output.get("code")
            return None
        frame = json.loads(output["text"])
        self.frames.append(frame)
        return frame

    async def next_of(self, *types: str, timeout: float = 3) -> dict:
        while True:
            frame = await self.next_output(timeout)
            assert frame is not None, f"closed {self.close_code} before {types}: {self.frames}"
            if frame["type"] in types:
                return frame

    async def closed_with(self, timeout: float = 3) -> int:
        while await self.next_output(timeout) is not None:
            pass
        return self.close_code

    async def quiet_for(self, seconds: float) -> list[dict]:
        """Every frame received within `seconds` (stopping early if the socket closes)."""
        before = len(self.frames)
        deadline = asyncio.get_running_loop().time() + seconds
        while self.close_code is None:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or await self.communicator.receive_nothing(remaining):
                break
            await self.next_output(1)
        return self.frames[before:]

    async def shut(self):
        await self.communicator.disconnect()


def payload_for(channel: str, world: World, room_id: int, user_id: int) -> dict:
    """The frame that asks `channel` of the room (or, for presence and cards, of its poster)."""
    send = {"type": "send", "room": room_id, "body": INTRUSION, "client_id": new_client_id()}
    return {
        "send": send,
        "reply": {**send, "reply_to": world.secret_id},
        "history": {"type": "history", "room": room_id},
        "sync": {"type": "sync", "room": room_id, "after": 0},
        "react": {"type": "react", "room": room_id, "id": world.secret_id, "emoji": EMOJI},
        "presence": {"type": "presence", "users": [user_id]},
        "receipts": {"type": "receipts", "room": room_id},
        "typing": {"type": "typing", "room": room_id},
        "card": {"type": "card", "user": user_id},
    }[channel]


def assert_no_data(socket: Socket, world: World, allowed=()) -> None:
    """Nothing about the room or its people reached the socket: no data frame (but `allowed`),
    no hello that lists it."""
    leaked = [
        frame
        for frame in socket.frames
        if (frame["type"] in DATA_FRAMES - {"hello"} and frame not in allowed)
        or (frame["type"] == "hello" and world.room.id in [r["id"] for r in frame["rooms"]])
    ]
    assert not leaked, leaked
    assert world.secret not in json.dumps(socket.frames)


async def check_socket_request(world: World, channel: str, expected: str) -> None:
    """hello, send, history and sync: open the socket (credential already stale) and ask."""
    for attempt in await sync_to_async(socket_attempts)(world):
        socket = await Socket(attempt).open()
        try:
            if channel != "hello":
                # Sent at once, before any answer: a pipelined frame must not slip through.
                await socket.send(payload_for(channel, world, world.room.id, world.poster.id))
            if expected in {"4401", "4403", "4408"}:
                assert await socket.closed_with() == int(expected)
                assert_no_data(socket, world)
                assert await sync_to_async(stored_intrusions)() == 0
            elif expected in {"listed", "absent"}:
                hello = await socket.next_of("hello")
                listed = world.room.id in [room["id"] for room in hello["rooms"]]
                assert listed is (expected == "listed")
                # A member's list shows the room's latest message as its preview; nothing else
                # of the room's content travels in hello, and nothing at all to others.
                for room in hello["rooms"]:
                    if room["id"] == world.room.id and room["preview"]:
                        assert expected == "listed"
                        room["preview"].pop("body")
                assert world.secret not in json.dumps(hello)
            else:
                await check_socket_answer(socket, world, channel, expected)
        finally:
            await socket.shut()


async def check_socket_answer(socket: Socket, world: World, channel: str, expected: str) -> None:
    await socket.next_of("hello")
    if expected == "stored":
        frame = await socket.next_of("message")
        assert (frame["room"], frame["message"]["body"]) == (world.room.id, INTRUSION)
        assert await Message.objects.filter(body=INTRUSION, room=world.room).acount() == 1
        if channel == "reply":
            assert frame["message"]["reply_to"]["id"] == world.secret_id
    elif expected == "reacted":
        frame = await socket.next_of("message.updated")
        assert frame["message"]["id"] == world.secret_id
        assert frame["message"]["reactions"][0]["users"][0]["id"] == world.user.id
    elif expected == "ok" and channel == "typing":
        assert not [f for f in await socket.quiet_for(0.3) if f["type"] == "error"]
    elif expected == "ok" and channel == "receipts":
        frame = await socket.next_of("receipts")
        assert (frame["room"], frame["shown"]) == (world.room.id, True)
        assert world.poster.id in [receipt["user"] for receipt in frame["receipts"]]
    elif expected == "ok":
        frame = await socket.next_of(channel)
        assert [m["body"] for m in frame["messages"]] == [world.secret]
    elif expected == "told":
        told: list[int] = []
        while world.poster.id not in told:  # the member's own presence may be told first
            told = [person["id"] for person in (await socket.next_of("presence"))["users"]]
        assert told == [world.poster.id]
    elif expected == "untold":
        frame = await socket.next_of("presence")
        assert frame == {"type": "presence", "users": []}
        assert_no_data(socket, world, allowed=[frame])
    elif expected == "card":
        frame = await socket.next_of("card")
        assert frame["user"]["username"] == world.poster.username
        assert world.secret not in json.dumps(frame)
    elif expected == "not_found":
        error = await socket.next_of("error")
        await socket.send(payload_for(channel, world, MISSING_ROOM_ID, MISSING_ROOM_ID))
        missing = await socket.next_of("error")
        error.pop("client_id", None)
        missing.pop("client_id", None)
        assert error == missing == {"type": "error", "code": "not_found", "detail": error["detail"]}
        assert_no_data(socket, world)
        assert await sync_to_async(stored_intrusions)() == 0
    else:
        raise AssertionError(f"unknown socket outcome {expected}")


# Actors whose live socket is opened while the credential or membership is still good, so the
# cell proves that revocation reaches an open socket (a removal from a direct chat has no
# service, hence no event: that socket opens after it).
REVOKED_WHILE_OPEN = {
    ("removed_member", "public"): "room.removed",
    ("removed_member", "private"): "room.removed",
    ("deactivated", "public"): "4401",
    ("deactivated", "private"): "4401",
    ("deactivated", "direct"): "4401",
    ("revoked_token", "public"): "4401",
    ("revoked_token", "private"): "4401",
    ("revoked_token", "direct"): "4401",
}


async def poster_acts(world: World, live: str) -> Socket:
    """The poster comes online, types, posts `live` and reads it: presence, typing, a message
    and a read receipt of the room, each of which only members may learn."""
    cookie = f"{settings.SESSION_COOKIE_NAME}={await sync_to_async(session_cookie)(world.poster)}"
    poster = await Socket(Attempt([(b"cookie", cookie.encode()), (b"origin", ORIGIN)])).open()
    await poster.next_of("hello")
    await poster.send({"type": "typing", "room": world.room.id})
    message, _ = await sync_to_async(services.message_post)(
        author=world.poster, room_id=world.room.id, body=live, client_id=uuid.uuid4()
    )
    await sync_to_async(services.room_mark_read)(
        user=world.poster, room_id=world.room.id, seq=message.seq
    )
    return poster


async def check_live(world: World, expected: str) -> None:
    """A member comes online, types, posts and reads; the actor's socket learns of it only
    where the table says so."""
    revoked_while_open = REVOKED_WHILE_OPEN.get((world.actor, world.kind))
    if revoked_while_open is None:
        await sync_to_async(spoil)(world)
    for attempt in await sync_to_async(socket_attempts)(world):
        socket = await Socket(attempt).open()
        try:
            if revoked_while_open:
                hello = await socket.next_of("hello")
                assert world.room.id in [room["id"] for room in hello["rooms"]]
                await sync_to_async(spoil)(world)
                if revoked_while_open == "room.removed":
                    assert (await socket.next_of("room.removed"))["room"] == world.room.id
                else:
                    assert await socket.closed_with() == 4401
                socket.frames.clear()  # what came before the revocation was the member's due
            elif world.actor in {"outsider", "member", "removed_member", "staff"}:
                await socket.next_of("hello")
            live = f"live in the {world.kind} room {uuid.uuid4().hex[:8]}"
            poster = await poster_acts(world, live)
            if expected == "delivered":
                told = set()
                while len(told) < 4:
                    frame = await socket.next_of("message", "typing", "receipt", "presence")
                    if frame["type"] == "message":
                        assert (frame["room"], frame["message"]["body"]) == (world.room.id, live)
                    elif frame["type"] == "presence":
                        if world.poster.id not in [p["id"] for p in frame["users"]]:
                            continue  # the actor's own presence
                    else:
                        assert (frame["room"], frame["user"]) == (world.room.id, world.poster.id)
                    told.add(frame["type"])
            else:
                assert expected == "nothing"
                await socket.quiet_for(0.3)
                assert live not in json.dumps(socket.frames)
                assert_no_data(socket, world)
            await poster.shut()
        finally:
            await socket.shut()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("channel_layer", ["memory"], indirect=True)
@pytest.mark.parametrize(("actor", "kind", "channel"), cells(SOCKET_CHANNELS))
async def test_socket_cell(actor, kind, channel, channel_layer, settings):
    settings.CHAT_AUTH_TIMEOUT = 0.2
    world = await sync_to_async(build_world)(actor, kind)
    expected = EXPECTED[actor, kind, channel]
    if channel == "live":
        await check_live(world, expected)
    else:
        await sync_to_async(spoil)(world)
        await check_socket_request(world, channel, expected)


# Stale credentials outside the table's cells.


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("channel_layer", ["memory"], indirect=True)
async def test_a_ticket_minted_before_a_password_reset_opens_no_socket(channel_layer):
    world = await sync_to_async(build_world)("member", "private")

    def mint_then_reset() -> str:
        thief = Client()
        thief.force_login(world.user)
        ticket = thief.post("/api/tickets/").json()["ticket"]
        world.user.set_password("a-brand-new-passphrase")
        world.user.save()
        return ticket

    ticket = await sync_to_async(mint_then_reset)()
    socket = await Socket(Attempt([], [{"type": "auth", "ticket": ticket}])).open()
    try:
        first = await socket.next_output(3)
        assert (first, socket.close_code) == (None, 4401)
    finally:
        await socket.shut()


@pytest.mark.django_db
def test_an_api_token_cannot_mint_another_token():
    world = build_world("member", "private")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {world.token_key}"}
    response = Client().post(
        "/api/tokens/",
        data=json.dumps({"name": "spare key"}),
        content_type="application/json",
        **bearer,
    )
    assert response.status_code in {401, 403}
    assert world.user.api_tokens.count() == 1
