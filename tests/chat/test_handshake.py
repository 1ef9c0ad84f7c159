"""What one authenticated handshake costs the database, whatever the user's rooms hold."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.backends.utils import CursorWrapper
from django.test import Client

from accounts import services as account_services
from chat import services
from chat.models import Room
from tests.chat.conftest import ORIGIN, ChatClient
from tests.factories import UserFactory, make_room, new_client_id

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queries_run(monkeypatch) -> list[str]:
    """The SQL of every query run during the test, by any thread (a consumer's database work
    runs on threads of its own, each with its own connection)."""
    ran = []
    execute = CursorWrapper.execute

    def counted(self, sql, params=None):
        ran.append(sql)
        return execute(self, sql, params)

    monkeypatch.setattr(CursorWrapper, "execute", counted)
    return ran


@sync_to_async
def alice_with_rooms(rooms: int) -> dict[str, list[tuple[bytes, bytes]]]:
    """Alice with `rooms` direct, private and public rooms each, a message in every one, and
    the headers of her two credentials: an API token and a browser session."""
    alice = UserFactory()
    for _ in range(rooms):
        for kind in (Room.Kind.DIRECT, Room.Kind.PRIVATE, Room.Kind.PUBLIC):
            other = UserFactory()
            room = make_room(kind, alice, other)
            body = f"hi @{alice.username}"
            services.message_post(
                author=other, room_id=room.id, body=body, client_id=new_client_id()
            )
    _, key = account_services.api_token_create(user=alice, name="bot")
    browser = Client()
    browser.force_login(alice)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    return {
        "token": [(b"authorization", f"Bearer {key}".encode())],
        "session": [(b"cookie", cookie.encode()), (b"origin", ORIGIN)],
    }


async def queries_per_handshake(ran: list[str], rooms: int, credential: str) -> list[int]:
    """The queries of two handshakes of a user with `rooms` rooms of each kind, one after the
    other, each until its hello and the presence it tells: the user's first socket (it brings
    them online), then a second one."""
    headers = (await alice_with_rooms(rooms))[credential]
    counts, opened = [], []
    for _ in range(2):
        before = len(ran)
        client = await ChatClient(headers).connect()
        hello = await client.receive()
        assert len(hello["rooms"]) == 3 * rooms
        await asyncio.sleep(0.2)  # the presence told after the hello
        counts.append(len(ran) - before)
        opened.append(client)
    for client in opened:
        await client.close()
    return counts


@pytest.mark.parametrize("credential", ["token", "session"])
async def test_a_handshake_takes_a_fixed_number_of_queries_however_many_rooms(
    credential, settings, queries_run
):
    settings.CHAT_REVALIDATE_SECONDS = settings.CHAT_CATCH_UP_SECONDS = 60  # no backstop query
    few = await queries_per_handshake(queries_run, 1, credential)
    many = await queries_per_handshake(queries_run, 5, credential)
    # The credential's lookup (the token, recording its last use at most once a minute; or the
    # session), then the user with the credential's state, and their rooms with previews and
    # partners; on the first socket, the rooms to tell it brought the user online.
    assert few == many == [4, 3]
