"""Frames written straight to the transport (realtime/wire.py), through a real Uvicorn server."""

import asyncio
import json
import socket

import pytest
import uvicorn
from asgiref.sync import sync_to_async
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.asyncio.client import connect

from accounts.services import api_token_create
from chat.models import Room
from config.asgi import application
from realtime.wire import direct_writer, wire_bytes
from tests.factories import UserFactory, make_room, new_client_id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def serve():
    """Start Uvicorn's sans-I/O WebSocket protocol on an ASGI app, as production runs it."""
    servers = []

    async def start(app, *, deflate: bool) -> int:
        port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            ws="websockets-sansio",
            ws_per_message_deflate=deflate,
            lifespan="off",
            log_level="warning",
        )
        server = uvicorn.Server(config)
        servers.append((server, asyncio.ensure_future(server.serve())))
        while not server.started:
            await asyncio.sleep(0.01)
        return port

    yield start
    for server, task in servers:
        server.should_exit = True
        await task


def recording_app(seen: list):
    """Accepts, writes "direct" through the transport where it may, then "asgi" through ASGI."""

    async def app(scope, receive, send):
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        write = direct_writer(send)
        seen.append(write)
        if write is not None:
            assert write(wire_bytes("direct"))
        await send({"type": "websocket.send", "text": "asgi"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        if write is not None:
            seen.append(write(wire_bytes("too late")))

    return app


async def test_an_uncompressed_socket_is_written_the_shared_bytes_in_order(serve):
    seen = []
    port = await serve(recording_app(seen), deflate=False)
    async with connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
        assert [await ws.recv(), await ws.recv()] == ["direct", "asgi"]
    await asyncio.sleep(0.1)
    assert seen[0] is not None
    assert seen[1] is False  # closed: nothing is written any more


async def test_a_compressed_socket_goes_through_asgi(serve):
    seen = []
    port = await serve(recording_app(seen), deflate=True)
    async with connect(f"ws://127.0.0.1:{port}/") as ws:  # offers permessage-deflate
        assert await ws.recv() == "asgi"
    assert seen == [None]


def test_other_servers_sends_have_no_direct_writer():
    async def send(message):
        pass

    assert direct_writer(send) is None
    assert direct_writer(None) is None


def test_a_frame_is_serialised_once_and_as_websockets_would():
    text = '{"type": "message", "body": "héllo"}'
    assert wire_bytes(text) is wire_bytes(text)
    assert wire_bytes(text) == b"\x81" + bytes([len(text.encode())]) + text.encode()


@pytest.fixture
def asgi_text_sends(monkeypatch) -> list[str]:
    """The text frames that went through Uvicorn's ASGI `send` rather than straight to the
    transport."""
    sent = []
    asgi_send = WebSocketsSansIOProtocol.send

    async def recorded(protocol, message):
        if message["type"] == "websocket.send":
            sent.append(message["text"])
        await asgi_send(protocol, message)

    monkeypatch.setattr(WebSocketsSansIOProtocol, "send", recorded)
    return sent


@pytest.mark.django_db(transaction=True)
async def test_a_chat_sockets_hello_room_frames_and_replies_skip_asgi(
    serve, asgi_text_sends, settings
):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    room, token = await sync_to_async(_a_room_and_its_members_token)()
    port = await serve(application, deflate=False)
    auth = {"Authorization": f"Bearer {token}"}
    send = json.dumps({"type": "send", "room": room.id, "body": "hi", "client_id": new_client_id()})
    async with connect(f"ws://127.0.0.1:{port}/ws/chat/", additional_headers=auth) as ws:

        async def received() -> dict:
            return json.loads(await asyncio.wait_for(ws.recv(), 10))

        assert (await received())["type"] == "hello"  # a reply
        await ws.send(send)
        first = await received()  # the room's frame
        await ws.send(send)  # a resend: answered to this socket alone
        again = await received()
    assert first["type"] == again["type"] == "message"
    assert first["message"] == again["message"]
    assert asgi_text_sends == []


def _a_room_and_its_members_token():
    alice = UserFactory()
    _, key = api_token_create(user=alice, name="t")
    return make_room(Room.Kind.PRIVATE, alice, name="wire"), key
