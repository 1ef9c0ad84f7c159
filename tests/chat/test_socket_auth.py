"""How a socket proves who it is, and how it loses that when the credential goes."""

import json
from importlib import import_module

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.test import Client

from accounts import services as account_services
from chat import services
from chat.models import Message, Room
from tests.chat.conftest import ORIGIN, ChatClient, session_cookie
from tests.factories import PASSWORD, UserFactory, make_room, new_client_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer")]


@sync_to_async
def two_users_in_a_dm():
    alice, bob = UserFactory(), UserFactory()
    return alice, bob, make_room(Room.Kind.DIRECT, alice, bob)


async def connect(headers) -> ChatClient:
    return await ChatClient(headers).connect()


def cookie_header(cookie: str) -> tuple[bytes, bytes]:
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())


async def test_cookie_from_another_site_is_refused_with_4403():
    alice, _, _ = await two_users_in_a_dm()
    cookie = await sync_to_async(session_cookie)(alice)
    for origin in (b"https://evil.example", b"null", None):
        headers = [cookie_header(cookie)] + ([(b"origin", origin)] if origin else [])
        client = await connect(headers)
        assert await client.closed_with() == 4403


async def test_bearer_token_authenticates_without_origin():
    alice, _, dm = await two_users_in_a_dm()
    _, key = await sync_to_async(account_services.api_token_create)(user=alice, name="bot")
    client = await connect([(b"authorization", f"Bearer {key}".encode())])
    hello = await client.receive()
    assert hello["type"] == "hello"
    assert [room["id"] for room in hello["rooms"]] == [dm.id]
    await client.close()


@pytest.mark.parametrize("value", ["Bearer plt_not-a-real-token", "Basic abc", "Bearer "])
async def test_bad_authorization_header_is_closed_4401(value):
    client = await connect([(b"authorization", value.encode())])
    assert await client.closed_with() == 4401


@sync_to_async
def session_keys() -> dict[str, str]:
    """Session cookies that name no one who may sign in: a session without a user, one signed
    in through a backend this site does not use, one that expired, and one never issued."""
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    alice = UserFactory()

    def saved(data: dict, expiry: int = 3600) -> str:
        store = store_class()
        store.update(data)
        store.set_expiry(expiry)
        store.create()
        return store.session_key

    signed_in = {SESSION_KEY: str(alice.pk), HASH_SESSION_KEY: alice.get_session_auth_hash()}
    return {
        "anonymous": saved({"theme": "dark"}),
        "unknown_backend": saved({**signed_in, BACKEND_SESSION_KEY: "elsewhere.Backend"}),
        "expired": saved(
            {**signed_in, BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0]}, expiry=-1
        ),
        "never_issued": "x" * 32,
    }


async def test_session_cookie_naming_no_one_who_may_sign_in_is_closed_4401():
    for name, key in (await session_keys()).items():
        client = await connect([cookie_header(key), (b"origin", ORIGIN)])
        assert await client.closed_with() == 4401, name


async def test_ticket_as_first_frame_authenticates_once():
    alice, _, dm = await two_users_in_a_dm()
    ticket = await sync_to_async(account_services.socket_ticket_issue)(user=alice)
    client = await connect([])
    await client.send(type="auth", ticket=ticket)
    hello = await client.receive()
    assert (hello["type"], [r["id"] for r in hello["rooms"]]) == ("hello", [dm.id])
    await client.close()
    reused = await connect([])
    await reused.send(type="auth", ticket=ticket)
    assert await reused.closed_with() == 4401


async def test_expired_ticket_is_refused():
    alice, _, _ = await two_users_in_a_dm()
    ticket = await sync_to_async(account_services.socket_ticket_issue)(user=alice)
    from django.utils import timezone

    from accounts.models import SocketTicket

    await SocketTicket.objects.aupdate(expires_at=timezone.now())
    client = await connect([])
    await client.send(type="auth", ticket=ticket)
    assert await client.closed_with() == 4401


async def test_unauthenticated_socket_gets_nothing_and_any_other_frame_closes_it():
    _, _, dm = await two_users_in_a_dm()
    client = await connect([])
    assert await client.nothing(0.3)
    await client.send(type="send", room=dm.id, body="hi", client_id=new_client_id())
    assert await client.closed_with() == 4401
    assert await Message.objects.acount() == 0


async def test_socket_without_credentials_is_closed_after_the_auth_timeout(settings):
    settings.CHAT_AUTH_TIMEOUT = 0.2
    client = await connect([])
    assert await client.closed_with(timeout=2) == 4408


def _logged_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def test_logout_closes_that_sessions_sockets_only():
    alice, _, _ = await two_users_in_a_dm()
    browser = await sync_to_async(_logged_in_client)(alice)
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    other_tab = await sync_to_async(session_cookie)(alice)
    first = await connect([cookie_header(cookie), (b"origin", ORIGIN)])
    second = await connect([cookie_header(other_tab), (b"origin", ORIGIN)])
    await first.receive_type("hello")
    await second.receive_type("hello")
    response = await sync_to_async(browser.post)("/accounts/logout/")
    assert response.status_code == 302
    assert (await first.receive_type("error"))["code"] == "unauthenticated"
    assert await first.closed_with() == 4401
    assert await second.nothing()
    await second.close()


async def test_logout_also_closes_sockets_opened_with_that_sessions_ticket():
    alice, _, _ = await two_users_in_a_dm()
    browser_csrf = await sync_to_async(_csrf_client)(alice)
    response = await sync_to_async(browser_csrf.post)("/api/tickets/")
    assert response.status_code == 403  # session API calls need the CSRF token
    response = await sync_to_async(browser_csrf.post)(
        "/api/tickets/", HTTP_X_CSRFTOKEN=browser_csrf.csrf_token
    )
    assert response.status_code == 201
    client = await connect([])
    await client.send(type="auth", ticket=response.json()["ticket"])
    await client.receive_type("hello")
    await sync_to_async(browser_csrf.post)(
        "/accounts/logout/", HTTP_X_CSRFTOKEN=browser_csrf.csrf_token
    )
    assert await client.closed_with() == 4401


def _csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/chat/")
    client.csrf_token = client.cookies[settings.CSRF_COOKIE_NAME].value
    return client


async def test_password_change_and_deactivation_close_every_socket_of_the_user():
    alice, _, _ = await two_users_in_a_dm()
    _, key = await sync_to_async(account_services.api_token_create)(user=alice, name="bot")
    by_token = await connect([(b"authorization", f"Bearer {key}".encode())])
    await by_token.receive_type("hello")

    def change_password():
        alice.set_password(PASSWORD + "-new")
        alice.save()

    await sync_to_async(change_password)()
    assert await by_token.closed_with() == 4401

    by_token = await connect([(b"authorization", f"Bearer {key}".encode())])
    await by_token.receive_type("hello")
    alice.is_active = False
    await alice.asave(update_fields=["is_active"])
    assert await by_token.closed_with() == 4401
    again = await connect([(b"authorization", f"Bearer {key}".encode())])
    assert await again.closed_with() == 4401


async def test_revoking_a_token_closes_the_sockets_it_opened():
    alice, _, _ = await two_users_in_a_dm()
    token, key = await sync_to_async(account_services.api_token_create)(user=alice, name="bot")
    client = await connect([(b"authorization", f"Bearer {key}".encode())])
    await client.receive_type("hello")
    assert await sync_to_async(account_services.api_token_revoke)(user=alice, token_id=token.id)
    assert await client.closed_with() == 4401


async def test_frames_over_64_kib_close_the_socket_with_1009_and_store_nothing(sockets):
    alice, _, dm = await two_users_in_a_dm()
    client, _ = await sockets(alice)
    body = "é" * (settings.CHAT_FRAME_MAX_BYTES // 2)  # under 64 Ki characters, over 64 KiB
    await client.send(type="send", room=dm.id, body=body, client_id=new_client_id())
    assert await client.closed_with() == 1009
    assert await Message.objects.acount() == 0


async def test_sender_over_the_rate_limit_is_told_when_to_retry_and_nothing_is_stored(
    sockets, settings
):
    settings.CHAT_RATE_PER_SECOND = 1
    settings.CHAT_RATE_BURST = 3
    alice, _, dm = await two_users_in_a_dm()
    client, _ = await sockets(alice)
    for n in range(3):
        await client.send(type="send", room=dm.id, body=f"ok {n}", client_id=new_client_id())
        await client.receive_type("message")
    cid = new_client_id()
    await client.send(type="send", room=dm.id, body="too fast", client_id=cid)
    error = await client.receive_type("error")
    assert error["code"] == "rate_limited"
    assert error["client_id"] == cid
    assert 0 < error["retry_after"] <= 1
    assert await Message.objects.filter(body="too fast").acount() == 0


async def test_open_sockets_per_user_are_capped(sockets, settings):
    settings.CHAT_MAX_SOCKETS_PER_USER = 2
    alice, _, _ = await two_users_in_a_dm()
    await sockets(alice)
    await sockets(alice)
    cookie = await sync_to_async(session_cookie)(alice)
    third = await connect([cookie_header(cookie), (b"origin", ORIGIN)])
    assert (await third.receive())["code"] == "too_many_sockets"
    assert await third.closed_with() == 4429


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_request"),
        ("[1, 2]", "bad_request"),
        (json.dumps({"room": 1}), "bad_request"),
        (json.dumps({"type": "dance"}), "bad_request"),
        (json.dumps({"type": "send", "room": "1", "body": "x", "client_id": "c"}), "bad_request"),
        (json.dumps({"type": "send", "room": True, "body": "x"}), "bad_request"),
        (
            json.dumps({"type": "send", "room": 999999, "body": "x", "client_id": new_client_id()}),
            "not_found",
        ),
        (json.dumps({"type": "history", "room": 1, "limit": 1000}), "bad_request"),
        (json.dumps({"type": "sync", "room": 1}), "bad_request"),
        (json.dumps({"type": "sync", "room": 1, "after": -1}), "bad_request"),
    ],
)
async def test_malformed_frames_get_an_error_code_and_the_socket_stays_open(sockets, frame, code):
    alice, _, _ = await two_users_in_a_dm()
    client, _ = await sockets(alice)
    await client.send_raw(text=frame)
    error = await client.receive()
    assert (error["type"], error["code"]) == ("error", code)
    await client.send(type="ping")
    assert (await client.receive())["type"] == "pong"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("", "bad_request"),
        ("   \n ", "bad_request"),
        (None, "bad_request"),
        (42, "bad_request"),
        ("x" * 4001, "too_long"),
    ],
)
async def test_invalid_bodies_are_refused_and_not_stored(sockets, body, code):
    alice, _, dm = await two_users_in_a_dm()
    client, _ = await sockets(alice)
    await client.send(type="send", room=dm.id, body=body, client_id=new_client_id())
    assert (await client.receive())["code"] == code
    assert await Message.objects.acount() == 0


async def test_binary_frames_are_refused_with_an_error(sockets):
    alice, _, _ = await two_users_in_a_dm()
    client, _ = await sockets(alice)
    await client.send_raw(data=b"\x00\x01")
    assert (await client.receive())["code"] == "bad_request"


async def test_a_4000_character_message_is_accepted(sockets):
    alice, _, dm = await two_users_in_a_dm()
    client, _ = await sockets(alice)
    await client.send(type="send", room=dm.id, body="y" * 4000, client_id=new_client_id())
    assert len((await client.receive_type("message"))["message"]["body"]) == 4000


async def test_deleting_a_room_stops_its_stream(sockets):
    staff = await sync_to_async(UserFactory)(is_staff=True)
    alice = await sync_to_async(UserFactory)()
    room = await sync_to_async(services.room_create_public)(creator=staff, name="Town square")
    await sync_to_async(services.room_join_public)(user=alice, room_id=room.id)
    client, hello = await sockets(alice)
    assert [r["id"] for r in hello["rooms"]] == [room.id]
    await sync_to_async(services.room_delete)(actor=staff, room_id=room.id)
    assert (await client.receive_type("room.removed"))["room"] == room.id


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "read", "room": 1, "seq": 2**70},
        {"type": "history", "room": 2**64},
        {"type": "send", "room": "DM", "body": "\ud800", "client_id": "CID"},
    ],
)
async def test_numbers_beyond_bigint_and_lone_surrogates_are_bad_requests(sockets, frame):
    alice, _, dm = await two_users_in_a_dm()
    client, _ = await sockets(alice)
    frame = {**frame, "room": dm.id if frame["room"] == "DM" else frame["room"]}
    if frame.get("client_id") == "CID":
        frame["client_id"] = new_client_id()
    await client.send(**frame)
    assert (await client.receive())["code"] == "bad_request"
    assert await Message.objects.acount() == 0
