"""Revocation that cannot be missed: a revoked credential or membership stops a socket whether
its event arrives, is dropped, or races the socket's own handshake."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client

from accounts import services as account_services
from accounts.credentials import Credential
from chat import services
from chat.consumers import ChatConsumer
from chat.models import Message, Room
from chat.sockets import Registry
from realtime import publisher
from tests.chat.conftest import ORIGIN, ChatClient
from tests.factories import PASSWORD, UserFactory, make_room, new_client_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer")]

KINDS = ["logout", "password_change", "token_revoke", "deactivation", "room_removal"]


class Victim:
    """Bob, in Alice's private room, with a browser session and an API token: one socket opened
    with the credential that `kind` revokes."""

    def __init__(self, kind: str):
        self.kind = kind
        self.owner, self.user = UserFactory(), UserFactory()
        self.room = make_room(Room.Kind.PRIVATE, self.owner, self.user)
        self.browser = Client()
        self.browser.force_login(self.user)
        self.token, self.key = account_services.api_token_create(user=self.user, name="bot")

    def headers(self) -> list[tuple[bytes, bytes]]:
        if self.kind == "token_revoke":
            return [(b"authorization", f"Bearer {self.key}".encode())]
        cookie = self.browser.cookies[settings.SESSION_COOKIE_NAME].value
        return [
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
            (b"origin", ORIGIN),
        ]

    def revoke(self) -> None:
        if self.kind == "logout":
            assert self.browser.post("/accounts/logout/").status_code == 302
        elif self.kind == "password_change":
            self.user.set_password(PASSWORD + "-new")
            self.user.save()
        elif self.kind == "token_revoke":
            assert account_services.api_token_revoke(user=self.user, token_id=self.token.id)
        elif self.kind == "deactivation":
            self.user.is_active = False
            self.user.save()
        else:
            services.member_remove(actor=self.owner, room_id=self.room.id, user_id=self.user.id)

    def owner_posts(self, body: str) -> None:
        services.message_post(
            author=self.owner, room_id=self.room.id, body=body, client_id=new_client_id()
        )


async def victim_socket(kind: str) -> tuple[Victim, ChatClient]:
    victim = await sync_to_async(Victim)(kind)
    socket = await ChatClient(victim.headers()).connect()
    assert (await socket.receive())["type"] == "hello"
    return victim, socket


@pytest.fixture
def events_dropped(monkeypatch):
    """The channel layer loses every event (a full channel, a restart), without an error."""

    async def lost(group, event, *, room_id=None):
        return True

    monkeypatch.setattr(publisher, "publish", lost)


async def frames_until_close(socket: ChatClient, quiet: float = 0.5) -> tuple[list, int | None]:
    """Every frame the socket receives until it is closed (and the code) or stays quiet; error
    frames without their wording."""
    frames = []
    while not await socket.communicator.receive_nothing(quiet):
        output = await socket.communicator.receive_output()
        if output["type"] == "websocket.close":
            return frames, output.get("code")
        frame = json.loads(output["text"])
        frame.pop("detail", None)
        frames.append(frame)
    return frames, None


@pytest.mark.parametrize("kind", KINDS)
async def test_a_revocation_whose_event_is_dropped_stops_the_next_frame(kind, events_dropped):
    victim, socket = await victim_socket(kind)
    await sync_to_async(victim.revoke)()
    await socket.send(
        type="send", room=victim.room.id, body="as the user", client_id=new_client_id()
    )
    if kind == "room_removal":
        assert await socket.receive() == {
            "type": "room.removed",
            "room": victim.room.id,
            "reason": "removed",
        }
        assert (await socket.receive())["code"] == "not_found"
        await sync_to_async(victim.owner_posts)("after the removal")
        assert await socket.nothing(0.3)
        await socket.close()
    else:
        frames, code = await frames_until_close(socket)
        assert (frames, code) == ([{"type": "error", "code": "unauthenticated"}], 4401)
    assert not await Message.objects.filter(body="as the user").aexists()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_silent_socket_that_missed_its_event_is_cut_off_by_the_backstop(
    kind, events_dropped, settings
):
    settings.CHAT_REVALIDATE_SECONDS = 0.3
    victim, socket = await victim_socket(kind)
    await sync_to_async(victim.revoke)()
    await asyncio.sleep(0.8)  # past the bound, without a frame from the socket
    await sync_to_async(victim.owner_posts)("posted after the bound")
    frames = []
    while not await socket.communicator.receive_nothing(0.3):
        output = await socket.communicator.receive_output()
        if output["type"] == "websocket.close":
            frames.append(("closed", output.get("code")))
            break
        frames.append(json.loads(output["text"]))
    assert not any(isinstance(f, dict) and f["type"] == "message" for f in frames), (
        f"a message of the room reached a revoked socket: {frames}"
    )
    if kind == "room_removal":
        assert {"type": "room.removed", "room": victim.room.id, "reason": "removed"} in frames
    else:
        assert frames[-1] == ("closed", 4401), frames


@pytest.mark.parametrize("kind", ["logout", "password_change", "token_revoke", "deactivation"])
async def test_sockets_opening_while_the_credential_is_revoked_never_survive(kind, settings):
    """18 handshakes over 150 ms race the revocation: each socket is refused or closed by the
    event alone (the backstop is kept out of it), none is left live."""
    settings.CHAT_REVALIDATE_SECONDS = 60
    victim = await sync_to_async(Victim)(kind)
    headers = victim.headers()

    async def open_one(delay: float):
        await asyncio.sleep(delay)
        client = ChatClient(headers)
        connected, _ = await client.communicator.connect(timeout=5)
        return client if connected else None

    async def revoke_midway():
        await asyncio.sleep(0.075)
        await sync_to_async(victim.revoke)()

    opened = await asyncio.gather(*(open_one(i * 0.15 / 18) for i in range(18)), revoke_midway())
    survivors = []
    for client in opened[:18]:
        if client is None:
            continue
        output = await client.communicator.receive_output(3)
        while output["type"] == "websocket.send":
            output = await client.communicator.receive_output(3)
        if output["type"] != "websocket.close":
            survivors.append(client)
    assert survivors == []
    await sync_to_async(victim.owner_posts)("after the race")


@pytest.mark.parametrize("kind", ["logout", "password_change", "token_revoke", "deactivation"])
async def test_a_credential_revoked_after_the_handshake_found_it_is_refused(kind, monkeypatch):
    """The handshake's lookup finds only the credential; the user is loaded, and the credential
    checked, after the socket listens for its revocation: one revoked in between (its event gone
    before the socket listened) is refused before any hello."""
    victim = await sync_to_async(Victim)(kind)
    start = ChatConsumer.start

    async def revoked_first(self, credential):
        await sync_to_async(victim.revoke)()
        await start(self, credential)

    monkeypatch.setattr(ChatConsumer, "start", revoked_first)
    socket = await ChatClient(victim.headers()).connect()
    frames, code = await frames_until_close(socket)
    assert code == 4401
    assert "hello" not in [frame["type"] for frame in frames]


async def test_a_stale_removal_event_keeps_a_member_who_rejoined():
    victim, socket = await victim_socket("room_removal")
    await sync_to_async(victim.revoke)()
    await socket.receive_type("room.removed")
    await sync_to_async(services.member_invite)(
        actor=victim.owner, room_id=victim.room.id, username=victim.user.username
    )
    await socket.receive_type("room.added")
    await sync_to_async(victim.owner_posts)("welcome back")
    assert (await socket.receive_type("message"))["message"]["body"] == "welcome back"
    await socket.close()


@pytest.mark.parametrize(
    "frame",
    ["not json", "[1]", '{"type": "dance"}', "[" * 50 + "]" * 50, b"\x00binary"],
    ids=["not-json", "not-an-object", "unknown-type", "too-deep", "binary"],
)
async def test_a_revoked_socket_answers_no_frame_not_even_a_malformed_one(frame, events_dropped):
    victim, socket = await victim_socket("token_revoke")
    await sync_to_async(victim.revoke)()
    if isinstance(frame, bytes):
        await socket.send_raw(data=frame)
    else:
        await socket.send_raw(text=frame)
    frames, code = await frames_until_close(socket)
    assert (frames, code) == ([{"type": "error", "code": "unauthenticated"}], 4401)


class StuckSocket:
    """A socket the backstop finds revoked but whose client reads nothing: telling it blocks."""

    def __init__(self, credential, name):
        self.socket_id, self.credential, self.rooms, self.seqs = name, credential, set(), {}
        self.told, self.unstuck = asyncio.Event(), asyncio.Event()

    async def revoke(self):
        self.told.set()
        await self.unstuck.wait()


class ReadingSocket(StuckSocket):
    async def revoke(self):
        self.told.set()


async def test_a_socket_that_blocks_the_backstop_holds_up_no_other(settings):
    settings.CHAT_REVALIDATE_SECONDS = 3600
    victim = await sync_to_async(Victim)("token_revoke")
    credential = Credential(user_id=victim.user.id, token_id=victim.token.id)
    sockets = [
        StuckSocket(credential, "stuck-1"),
        ReadingSocket(credential, "reading"),
        StuckSocket(credential, "stuck-2"),
    ]
    registry = Registry()
    for socket in sockets:
        registry.sockets.add(socket)
    await sync_to_async(victim.revoke)()
    await asyncio.wait_for(registry.sweep(), 5)
    for socket in sockets:
        await asyncio.wait_for(socket.told.wait(), 1)
        socket.unstuck.set()
