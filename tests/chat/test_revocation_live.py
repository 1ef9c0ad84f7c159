"""Revocation against the real server process with a plain WebSocket client that stops reading:
the server blocks writing to it, its channel fills up and the revocation event is lost, yet after
CHAT_REVALIDATE_SECONDS nothing of the room reaches it and no frame of its is answered. Run on
the in-memory layer (one process) and on the Redis pub/sub layer."""

import asyncio
import json
import secrets
import uuid

import pytest
import requests
from django.conf import settings
from django.test import Client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from accounts.services import api_token_create
from chat.models import Membership, Message, Room
from tests.conftest import LiveServer, in_a_thread
from tests.factories import UserFactory, make_room

pytestmark = [pytest.mark.django_db(transaction=True)]

REVALIDATE_SECONDS = 1
KINDS = ["logout", "password_change", "token_revoke", "deactivation", "room_removal"]


@pytest.fixture(scope="module", params=["memory", "pubsub"])
def server(request, server_env):
    env = {**server_env, "CHAT_REVALIDATE_SECONDS": str(REVALIDATE_SECONDS)}
    env.update(CHAT_SEND_TIMEOUT="60", CHAT_MAX_SOCKETS_PER_USER="4")
    if request.param == "memory":
        del env["REDIS_URL"]
    live = LiveServer(env)
    live.start()
    yield live
    live.stop()


def run(coroutine, timeout: float = 60):
    return in_a_thread(asyncio.run, coroutine, timeout=timeout)


class Http:
    """A signed-in browser of the server, speaking plain HTTP (CSRF token included)."""

    def __init__(self, base: str, user):
        client = Client()
        client.force_login(user)
        self.base = base
        self.session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
        self.csrf = secrets.token_hex(16)
        self.http = requests.Session()
        self.http.cookies.set(settings.SESSION_COOKIE_NAME, self.session_key)
        self.http.cookies.set(settings.CSRF_COOKIE_NAME, self.csrf)

    def post(self, path: str, **data) -> requests.Response:
        response = self.http.post(
            self.base + path,
            data=data,
            headers={"X-CSRFToken": self.csrf, "Origin": self.base},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code in {200, 302}, response.text[:500]
        return response

    @property
    def cookie_headers(self) -> dict[str, str]:
        return {
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={self.session_key}",
            "Origin": self.base,
        }


@pytest.fixture
def scene(server):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    room = make_room(Room.Kind.PRIVATE, alice, bob, name="secret plans")
    for n in range(1, 101):  # about 80 KB of history in one page
        Message.objects.create(
            room=room, author=alice, seq=n, pos=n, body=f"{n} " + "x" * 800, client_id=uuid.uuid4()
        )
    Room.objects.filter(id=room.id).update(last_seq=100, last_pos=100)
    token, key = api_token_create(user=bob, name="bot")
    return {
        "url": server.url,
        "ws": server.url.replace("http://", "ws://") + "/ws/chat/",
        "alice": Http(server.url, alice),
        "alice_key": api_token_create(user=alice, name="poster")[1],
        "bob": bob,
        "bob_http": Http(server.url, bob),  # the session a thief copied
        "bob_device": Http(server.url, bob),  # Bob's own browser
        "token": token,
        "key": key,
        "room": room,
    }


def revoke(kind: str, scene: dict) -> None:
    bob, room = scene["bob"], scene["room"]
    if kind == "logout":
        scene["bob_http"].post("/accounts/logout/")  # Bob signs that session out
    elif kind == "password_change":  # on another device (the form's hasher is the server's)
        bob.set_password("a-fresh-passphrase-42")
        bob.save()
    elif kind == "token_revoke":
        scene["bob_device"].post(f"/accounts/tokens/{scene['token'].id}/revoke/")
    elif kind == "deactivation":  # as the admin would, in another process
        type(bob).objects.filter(id=bob.id).update(is_active=False)
    else:
        scene["alice"].post(f"/chat/rooms/{room.id}/members/{bob.id}/remove/")


def alice_posts(scene: dict, body: str) -> None:
    response = requests.post(
        f"{scene['url']}/api/rooms/{scene['room'].id}/messages/",
        json={"body": body, "client_id": str(uuid.uuid4())},
        headers={"Authorization": f"Bearer {scene['alice_key']}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text


async def forced_drop(kind: str, scene: dict) -> tuple[list[dict], int | None]:
    """S1 asks for 200 pages of history and stops reading; S2 floods typing until S1's channel
    is full; the credential (or membership) is revoked; after the bound Alice posts; then S1
    reads again and tries to post. Returns what S1 received after the bound, and its close code."""
    room_id = scene["room"].id
    s1_headers = (
        {"Authorization": f"Bearer {scene['key']}"}
        if kind == "token_revoke"
        else scene["bob_http"].cookie_headers
    )
    s1 = await connect(scene["ws"], additional_headers=s1_headers, max_queue=1)
    s2 = await connect(scene["ws"], additional_headers=scene["bob_http"].cookie_headers)
    assert json.loads(await s1.recv())["type"] == "hello"
    assert json.loads(await s2.recv())["type"] == "hello"
    history = json.dumps({"type": "history", "room": room_id, "limit": 100})
    flood = asyncio.create_task(_send_all(s1, [history] * 200))
    await asyncio.sleep(1)  # the server is now blocked writing to S1
    typing = json.dumps({"type": "typing", "room": room_id})
    await _send_all(s2, [typing] * 150)
    await asyncio.sleep(0.5)
    await asyncio.to_thread(revoke, kind, scene)
    await asyncio.sleep(REVALIDATE_SECONDS * 2.5)
    await asyncio.to_thread(alice_posts, scene, "posted after the bound")
    after_bound = []
    code = None
    try:
        while True:  # until the server closes S1, or S1 has been quiet for 3 s
            async with asyncio.timeout(3):
                frame = json.loads(await s1.recv())
            if frame["type"] == "history":
                continue  # asked for, and answered, before the revocation
            after_bound.append(frame)
            if frame["type"] == "room.removed":
                await s1.send(
                    json.dumps(
                        {
                            "type": "send",
                            "room": room_id,
                            "body": "as the user",
                            "client_id": str(uuid.uuid4()),
                        }
                    )
                )
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else 1006
    except TimeoutError:
        pass
    flood.cancel()
    await s1.close()
    await s2.close()
    return after_bound, code


async def _send_all(socket, frames: list[str]) -> None:
    for frame in frames:
        await socket.send(frame)


@pytest.mark.parametrize("kind", KINDS)
def test_a_socket_that_stops_reading_loses_its_stream_when_revoked(kind, scene):
    frames, code = run(forced_drop(kind, scene))
    bodies = [f["message"]["body"] for f in frames if f["type"] == "message"]
    assert "posted after the bound" not in bodies, frames
    assert not Message.objects.filter(body="as the user").exists()
    # On the in-memory layer S1's queue overflows first, and the socket is closed "try again"
    # (1013) rather than left to miss events: a closed socket is cut off all the same.
    if kind == "room_removal":
        removed = {"type": "room.removed", "room": scene["room"].id, "reason": "removed"}
        assert removed in frames or code == 1013
        assert not Membership.objects.filter(user=scene["bob"]).exists()
    else:
        assert code in {4401, 1013}, (frames, code)
        assert [f["type"] for f in frames if f["type"] not in {"typing", "error"}] == [], frames


def test_disconnecting_while_the_server_is_blocked_does_not_leak_the_socket_count(scene):
    """20 times: ask for much history, stop reading, drop the connection. The owner (at most 4
    sockets on this server) still connects."""

    async def rounds():
        headers = scene["bob_http"].cookie_headers
        history = json.dumps({"type": "history", "room": scene["room"].id, "limit": 100})
        for _ in range(20):
            socket = await connect(scene["ws"], additional_headers=headers, max_queue=1)
            await socket.recv()
            for _ in range(30):
                await socket.send(history)
            socket.transport.abort()
        await asyncio.sleep(1)
        async with connect(scene["ws"], additional_headers=headers) as socket:
            return json.loads(await socket.recv())

    assert run(rounds())["type"] == "hello"
