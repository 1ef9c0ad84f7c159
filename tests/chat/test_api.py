"""The JSON API: the same permission helper, validation and error codes as the socket."""

import pytest
from asgiref.sync import sync_to_async

from accounts import services as account_services
from chat import services
from chat.models import Message, Room
from tests.factories import UserFactory, make_room, new_client_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_token():
    alice = UserFactory()
    _, key = account_services.api_token_create(user=alice, name="script")
    return alice, {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_token_client_lists_rooms_posts_and_reads_history(client, alice_token):
    alice, auth = alice_token
    bob = UserFactory()
    dm = make_room(Room.Kind.DIRECT, alice, bob)
    assert [r["id"] for r in client.get("/api/rooms/", **auth).json()] == [dm.id]
    cid = new_client_id()
    response = client.post(
        f"/api/rooms/{dm.id}/messages/",
        {"body": "  from a bot  ", "client_id": cid},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 201
    assert (response.json()["body"], response.json()["seq"]) == ("from a bot", 1)
    again = client.post(
        f"/api/rooms/{dm.id}/messages/",
        {"body": "from a bot", "client_id": cid},
        content_type="application/json",
        **auth,
    )
    assert (again.status_code, again.json()["id"]) == (200, response.json()["id"])
    assert Message.objects.count() == 1
    page = client.get(f"/api/rooms/{dm.id}/messages/?limit=10", **auth).json()
    assert [m["body"] for m in page["messages"]] == ["from a bot"]
    assert page["has_more"] is False


def test_history_pages_with_before_and_limit(client, alice_token):
    alice, auth = alice_token
    room = make_room(Room.Kind.PRIVATE, alice)
    for n in range(7):
        services.message_post(
            author=alice, room_id=room.id, body=f"m{n}", client_id=new_client_id()
        )
    page = client.get(f"/api/rooms/{room.id}/messages/?before=6&limit=3", **auth).json()
    assert [m["seq"] for m in page["messages"]] == [3, 4, 5]
    assert page["has_more"] is True


def test_outsider_gets_404_and_stores_nothing(client, alice_token):
    _, auth = alice_token
    bob, carol = UserFactory(), UserFactory()
    dm = make_room(Room.Kind.DIRECT, bob, carol)
    assert client.get(f"/api/rooms/{dm.id}/messages/", **auth).json()["code"] == "not_found"
    response = client.post(
        f"/api/rooms/{dm.id}/messages/",
        {"body": "x", "client_id": new_client_id()},
        content_type="application/json",
        **auth,
    )
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"body": "", "client_id": new_client_id()}, 400, "bad_request"),
        ({"body": "x" * 4001, "client_id": new_client_id()}, 400, "too_long"),
        ({"body": "x", "client_id": "not-a-uuid"}, 400, "bad_request"),
        ({"body": "x"}, 400, "bad_request"),
    ],
)
def test_invalid_posts_get_the_sockets_error_codes(client, alice_token, payload, status, code):
    alice, auth = alice_token
    room = make_room(Room.Kind.PRIVATE, alice)
    response = client.post(
        f"/api/rooms/{room.id}/messages/", payload, content_type="application/json", **auth
    )
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert Message.objects.count() == 0


def test_without_credentials_or_with_a_revoked_token_the_api_answers_401(client, alice_token):
    alice, auth = alice_token
    assert client.get("/api/rooms/").status_code == 401
    token = alice.api_tokens.get()
    account_services.api_token_revoke(user=alice, token_id=token.id)
    assert client.get("/api/rooms/", **auth).status_code == 401


def test_tokens_are_created_shown_once_stored_hashed_and_revoked(client, alice_token):
    alice, _ = alice_token
    client.force_login(alice)
    created = client.post("/api/tokens/", {"name": "ci"}, content_type="application/json")
    assert created.status_code == 201
    key = created.json()["key"]
    assert not alice.api_tokens.filter(key_hash=key).exists()
    listed = client.get("/api/tokens/").json()
    assert {t["name"] for t in listed} == {"script", "ci"}
    assert all("key" not in t for t in listed)
    assert client.delete(f"/api/tokens/{created.json()['id']}/").status_code == 204
    client.logout()
    assert client.get("/api/rooms/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_a_token_cannot_list_mint_or_revoke_tokens(client, alice_token):
    alice, auth = alice_token
    token = alice.api_tokens.get()
    assert client.get("/api/tokens/", **auth).status_code == 401
    assert (
        client.post(
            "/api/tokens/", {"name": "x"}, content_type="application/json", **auth
        ).status_code
        == 401
    )
    assert client.delete(f"/api/tokens/{token.id}/", **auth).status_code == 401
    assert alice.api_tokens.count() == 1


def test_another_users_token_cannot_be_revoked(client, alice_token):
    alice, _ = alice_token
    client.force_login(alice)
    token, _ = account_services.api_token_create(user=UserFactory(), name="theirs")
    assert client.delete(f"/api/tokens/{token.id}/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_ticket_issued_to_a_token_client(client, alice_token):
    _, auth = alice_token
    response = client.post("/api/tickets/", **auth)
    assert response.status_code == 201
    assert response.json()["expires_in"] == 60
    assert len(response.json()["ticket"]) > 30


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/openapi.json").json()
    assert "/api/rooms/{room_id}/messages/" in schema["paths"]
    assert client.get("/api/docs").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/api/rooms/99999999999999999999999/messages/",
        "/api/rooms/1/messages/?before=99999999999999999999999",
        "/api/rooms/1/messages/?limit=0",
        "/api/rooms/1/messages/?before=-1",
    ],
)
def test_out_of_range_numbers_are_bad_requests_not_server_errors(client, alice_token, url):
    _, auth = alice_token
    response = client.get(url, **auth)
    assert (response.status_code, response.json()["code"]) == (400, "bad_request")


def test_a_removed_member_resending_an_old_client_id_gets_404_like_any_outsider(client):
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    _, key = account_services.api_token_create(user=bob, name="script")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    payload = {"body": "posted while a member", "client_id": new_client_id()}
    url = f"/api/rooms/{room.id}/messages/"
    assert client.post(url, payload, content_type="application/json", **auth).status_code == 201
    services.message_post(
        author=alice, room_id=room.id, body="said after bob left", client_id=new_client_id()
    )
    services.member_remove(actor=alice, room_id=room.id, user_id=bob.id)

    resent = client.post(url, payload, content_type="application/json", **auth)
    missing = client.post(
        "/api/rooms/2000000000/messages/",
        {**payload, "client_id": new_client_id()},
        content_type="application/json",
        **auth,
    )
    assert (resent.status_code, resent.json()) == (404, missing.json())
    assert "posted while a member" not in resent.content.decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("channel_layer", ["memory"], indirect=True)
async def test_a_removed_members_socket_resending_an_old_client_id_is_not_found(
    channel_layer, sockets
):
    alice, bob = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    room = await sync_to_async(make_room)(Room.Kind.PRIVATE, alice, bob)
    client_id = new_client_id()
    await sync_to_async(services.message_post)(
        author=bob, room_id=room.id, body="posted while a member", client_id=client_id
    )
    await sync_to_async(services.member_remove)(actor=alice, room_id=room.id, user_id=bob.id)

    socket, _ = await sockets(bob)
    await socket.send(type="send", room=room.id, body="posted while a member", client_id=client_id)
    answer = await socket.receive()
    assert (answer["type"], answer["code"]) == ("error", "not_found")
    assert await socket.nothing()
