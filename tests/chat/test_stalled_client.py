"""A client that stops reading while its rooms go on talking, against the real server: once the
server can write nothing more to it for CHAT_SEND_TIMEOUT, it is closed with 1013 (try again),
and the other sockets of the room go on receiving."""

import asyncio
import json
import secrets
import socket
import uuid

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from accounts.services import api_token_create
from chat.models import Room
from tests.conftest import LiveServer, in_a_thread
from tests.factories import UserFactory, make_room

pytestmark = [pytest.mark.django_db(transaction=True)]

SEND_TIMEOUT = 2
MESSAGES = 1000


@pytest.fixture(scope="module")
def server(server_env):
    # No posting budget, and an outbox that holds them all: only the send timeout is left.
    env = {**server_env, "CHAT_SEND_TIMEOUT": str(SEND_TIMEOUT), "CHAT_RATE_PER_SECOND": "0"}
    live = LiveServer({**env, "CHAT_OUTBOX_MAX": str(MESSAGES * 2)})
    live.start()
    yield live
    live.stop()


async def stalled_then_closed(server, room, tokens) -> tuple[int, int | None, int]:
    """The reader's socket takes in a few KB and then nothing; the other member posts large
    messages. Returns how many of them each socket received, and the reader's close code."""
    url = server.url.replace("http://", "ws://") + "/ws/chat/"
    tiny = socket.socket()
    tiny.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window
    tiny.connect(("127.0.0.1", server.port))
    reader = await connect(
        url, sock=tiny, additional_headers={"Authorization": f"Bearer {tokens['reader']}"}
    )
    listener = await connect(url, additional_headers={"Authorization": f"Bearer {tokens['other']}"})
    assert json.loads(await reader.recv())["type"] == "hello"
    assert json.loads(await listener.recv())["type"] == "hello"
    reader.transport.pause_reading()  # from now on the reader takes nothing
    # 6 MB that do not compress, from the other member's socket: more than the kernel's
    # buffers between the server and the reader hold (about 4 MB on loopback).
    for _ in range(MESSAGES):
        frame = {"type": "send", "room": room.id, "body": secrets.token_urlsafe(3000)}
        await listener.send(json.dumps({**frame, "client_id": str(uuid.uuid4())}))
    heard = 0
    while heard < MESSAGES:
        frame = json.loads(await asyncio.wait_for(listener.recv(), 10))
        heard += frame["type"] == "message"
    reader.transport.resume_reading()
    code, read = None, 0  # None: never closed
    try:
        async with asyncio.timeout(SEND_TIMEOUT + 10):
            while True:
                read += json.loads(await reader.recv())["type"] == "message"
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else 1006
    except TimeoutError:
        pass
    await listener.close()
    return read, code, heard


def test_a_client_that_takes_nothing_is_closed_try_again_and_the_room_goes_on(server):
    alice, reader, other = UserFactory(), UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, reader, other)
    tokens = {
        name: api_token_create(user=user, name="t")[1]
        for name, user in [("reader", reader), ("other", other)]
    }
    read, code, heard = in_a_thread(asyncio.run, stalled_then_closed(server, room, tokens))
    assert heard == MESSAGES  # the stalled socket held up no other
    assert code == 1013 and read < MESSAGES  # cut off behind, told to come back and sync
