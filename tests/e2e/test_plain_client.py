"""A plain WebSocket client (the `websockets` library) against the real server process: what a
script or an attacker who knows the socket URL can and cannot do."""

import asyncio
import json
import urllib.request
import uuid

import pytest
from django.conf import settings
from django.test import Client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from accounts.services import api_token_create
from chat.models import Message, Room
from tests.conftest import in_a_thread
from tests.factories import UserFactory, make_room

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def run(coroutine):
    """Run a client coroutine on a loop of its own (Playwright's loop owns this thread)."""
    return in_a_thread(asyncio.run, coroutine, timeout=30)


def ws_url(live_url: str) -> str:
    return live_url.replace("http://", "ws://") + "/ws/chat/"


async def close_code(socket, timeout: float = 8) -> int:
    """Read until the server closes the socket; its close code."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await socket.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006


@pytest.fixture
def dm():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    return alice, bob, make_room(Room.Kind.DIRECT, alice, bob)


def test_a_bot_with_a_token_chats_and_a_bad_token_is_closed_4401(live_url, dm):
    alice, _, room = dm
    _, key = api_token_create(user=alice, name="bot")

    async def chat():
        headers = {"Authorization": f"Bearer {key}"}
        async with connect(ws_url(live_url), additional_headers=headers) as socket:
            hello = json.loads(await socket.recv())
            cid = str(uuid.uuid4())
            await socket.send(
                json.dumps({"type": "send", "room": room.id, "body": "beep", "client_id": cid})
            )
            echo = json.loads(await socket.recv())
        bad = {"Authorization": "Bearer plt_stolen-and-revoked"}
        async with connect(ws_url(live_url), additional_headers=bad) as socket:
            refused = await close_code(socket)
        return hello, echo, refused

    hello, echo, refused = run(chat())
    assert [r["id"] for r in hello["rooms"]] == [room.id]
    assert (echo["type"], echo["message"]["body"]) == ("message", "beep")
    assert refused == 4401
    assert Message.objects.get().body == "beep"


def test_a_cookie_from_another_site_is_closed_4403(live_url, dm):
    alice, _, _ = dm
    browser = Client()
    browser.force_login(alice)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"

    async def hijack():
        codes = []
        for origin in ("https://evil.example", live_url):
            async with connect(
                ws_url(live_url), origin=origin, additional_headers={"Cookie": cookie}
            ) as socket:
                if origin == live_url:
                    codes.append(json.loads(await socket.recv())["type"])
                else:
                    codes.append(await close_code(socket))
        return codes

    assert run(hijack()) == [4403, "hello"]


def test_a_ticket_opens_one_socket_once(live_url, dm):
    alice, _, room = dm
    _, key = api_token_create(user=alice, name="bot")
    request = urllib.request.Request(
        f"{live_url}/api/tickets/", method="POST", headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        ticket = json.loads(response.read())["ticket"]

    async def use_twice():
        async with connect(ws_url(live_url)) as socket:
            await socket.send(json.dumps({"type": "auth", "ticket": ticket}))
            hello = json.loads(await socket.recv())
        async with connect(ws_url(live_url)) as socket:
            await socket.send(json.dumps({"type": "auth", "ticket": ticket}))
            reused = await close_code(socket)
        return hello, reused

    hello, reused = run(use_twice())
    assert [r["id"] for r in hello["rooms"]] == [room.id]
    assert reused == 4401


def test_without_credentials_nothing_is_received_and_the_socket_closes_4408(live_url, dm):
    async def wait():
        async with connect(ws_url(live_url)) as socket:
            return await close_code(socket, timeout=settings.CHAT_AUTH_TIMEOUT + 5)

    assert run(wait()) == 4408


@pytest.mark.parametrize("size", [70 * 1024, 200 * 1024])
def test_oversized_frames_close_with_1009_and_store_nothing(live_url, dm, size):
    alice, _, room = dm
    _, key = api_token_create(user=alice, name="bot")

    async def flood():
        headers = {"Authorization": f"Bearer {key}"}
        async with connect(ws_url(live_url), additional_headers=headers, max_size=None) as socket:
            await socket.recv()
            await socket.send(
                json.dumps(
                    {
                        "type": "send",
                        "room": room.id,
                        "body": "x" * size,
                        "client_id": str(uuid.uuid4()),
                    }
                )
            )
            return await close_code(socket)

    assert run(flood()) == 1009
    assert not Message.objects.exists()
