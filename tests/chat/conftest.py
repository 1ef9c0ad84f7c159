import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from config.asgi import application
from tests.conftest import TEST_REDIS_URL

ORIGIN = b"http://127.0.0.1:8000"


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


class ChatClient:
    """A WebSocket client on the real ASGI application, with JSON helpers."""

    def __init__(self, headers, app=application):
        self.communicator = WebsocketCommunicator(app, "/ws/chat/", headers=headers)

    async def connect(self):
        connected, _ = await self.communicator.connect()
        assert connected
        return self

    async def send(self, **frame):
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def send_raw(self, text=None, data=None):
        await self.communicator.send_to(text_data=text, bytes_data=data)

    async def receive(self, timeout=3):
        return json.loads(await self.communicator.receive_from(timeout))

    async def receive_unprompted(self, timeout=3):
        """The next frame that is not a room-mate's presence (which may come at any time)."""
        while True:
            frame = await self.receive(timeout)
            if frame["type"] != "presence":
                return frame

    async def receive_type(self, frame_type, timeout=3):
        """The next frame of `frame_type`, skipping others (typing, room events)."""
        while True:
            frame = await self.receive(timeout)
            if frame["type"] == frame_type:
                return frame

    async def nothing(self, timeout=0.3) -> bool:
        return await self.communicator.receive_nothing(timeout)

    async def closed_with(self, timeout=3):
        output = await self.communicator.receive_output(timeout)
        while output["type"] == "websocket.send":
            output = await self.communicator.receive_output(timeout)
        assert output["type"] == "websocket.close"
        return output.get("code")

    async def close(self):
        await self.communicator.disconnect()


async def open_socket(user, *, origin=ORIGIN, app=application) -> tuple[ChatClient, dict]:
    """A browser-like socket for `user` (session cookie, same-site Origin) and its hello."""
    cookie = await sync_to_async(session_cookie)(user)
    headers = [(b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())]
    if origin:
        headers.append((b"origin", origin))
    client = await ChatClient(headers, app).connect()
    hello = await client.receive()
    assert hello["type"] == "hello", hello
    return client, hello


@pytest.fixture
async def sockets():
    """Opens browser-like sockets and closes them all at the end of the test."""
    opened = []

    async def opener(user, **kwargs):
        client, hello = await open_socket(user, **kwargs)
        opened.append(client)
        return client, hello

    yield opener
    for client in opened:
        await client.close()


def shared_state_in_redis(settings) -> None:
    """Keep what processes share (socket entries, presence, rate budgets) in Redis, under a key
    prefix of this test's own, as several processes would."""
    if not TEST_REDIS_URL:
        pytest.skip("no Redis for the tests (TEST_REDIS_URL unset)")
    settings.REDIS_URL = TEST_REDIS_URL
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": TEST_REDIS_URL,
            "KEY_PREFIX": f"parley-test-{uuid.uuid4().hex[:8]}",
        }
    }
