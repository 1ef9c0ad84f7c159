import asyncio
import hashlib
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.credentials import Credential
from accounts.models import ApiToken, SocketTicket
from accounts.services import (
    api_token_authenticate,
    api_token_create,
    api_token_credential,
    socket_ticket_issue,
    socket_ticket_redeem,
)
from realtime import publisher

PROFILE = reverse("accounts:profile")
CREATE = reverse("accounts:token_create")


def test_created_token_is_shown_once_and_only_its_hash_is_stored(client, user):
    client.force_login(user)

    response = client.post(CREATE, {"name": "deploy bot"}, follow=True)

    token = ApiToken.objects.get(user=user)
    key = response.context["new_key"]["key"]
    assert key in response.content.decode()
    assert token.name == "deploy bot"
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {token.name, token.prefix, token.key_hash}
    assert key.startswith(token.prefix)
    assert api_token_authenticate(key=key) == token

    again = client.get(PROFILE).content.decode()
    assert key not in again
    assert token.prefix in again


def test_token_create_needs_post(client, user):
    client.force_login(user)

    response = client.get(CREATE)

    assert response.status_code == 405
    assert not ApiToken.objects.exists()


def test_token_without_a_name_is_not_created(client, user):
    client.force_login(user)

    response = client.post(CREATE, {"name": ""}, follow=True)

    assert not ApiToken.objects.exists()
    assert "Give the token a name" in response.content.decode()


def test_user_revokes_their_token(client, user, django_capture_on_commit_callbacks):
    token, key = api_token_create(user=user, name="old script")
    client.force_login(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:token_revoke", args=[token.id]), follow=True)

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api_token_authenticate(key=key) is None
    assert "The token is revoked" in response.content.decode()


def test_user_cannot_revoke_someone_elses_token(client, make_user):
    owner, intruder = make_user(), make_user()
    token, _ = api_token_create(user=owner, name="owner's bot")
    client.force_login(intruder)

    response = client.post(reverse("accounts:token_revoke", args=[token.id]), follow=True)

    token.refresh_from_db()
    assert token.revoked_at is None
    assert "No such live token" in response.content.decode()


def test_dashboard_lists_only_the_users_tokens(client, make_user):
    me, other = make_user(), make_user()
    api_token_create(user=me, name="mine")
    api_token_create(user=other, name="theirs")
    client.force_login(me)

    response = client.get(PROFILE)

    assert [token.name for token in response.context["tokens"]] == ["mine"]
    assert "theirs" not in response.content.decode()


SIGN_OUT_EVERYWHERE = "/accounts/sign-out-everywhere/"


def listen(*groups: str) -> tuple:
    """A channel subscribed to `groups`, as an open socket is."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    for group in groups:
        async_to_sync(layer.group_add)(group, channel)
    return layer, channel


def received(layer, channel) -> list[dict]:
    events = []
    while True:
        try:
            events.append(async_to_sync(asyncio.wait_for)(layer.receive(channel), 0.05))
        except TimeoutError:
            return events


def test_dashboard_offers_sign_out_everywhere_with_token_revocation(client, user):
    client.force_login(user)

    html = client.get(PROFILE).content.decode()

    assert f'action="{SIGN_OUT_EVERYWHERE}"' in html
    assert "Also revoke my API tokens" in html
    assert client.get(SIGN_OUT_EVERYWHERE).status_code == 405


def test_sign_out_everywhere_ends_every_session_and_keeps_tokens_unless_asked(
    client, make_user, django_capture_on_commit_callbacks
):
    user, bystander = make_user(), make_user()
    phone, other_browser = Client(), Client()
    for browser, who in ((client, user), (phone, user), (other_browser, bystander)):
        browser.force_login(who)
    token, key = api_token_create(user=user, name="bot")
    session_ticket = socket_ticket_issue(user=user, session_key=phone.session.session_key)
    token_ticket = socket_ticket_issue(user=user, token_id=token.id)
    layer, phone_socket = listen(publisher.session_group(phone.session.session_key))
    _, bot_socket = listen(publisher.token_group(token.id))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(SIGN_OUT_EVERYWHERE, follow=True)

    assert response.redirect_chain[-1][0] == reverse("accounts:login")
    assert "You are signed out everywhere." in response.content.decode()
    for browser in (client, phone):
        assert browser.get(PROFILE).status_code == 302
    assert other_browser.get(PROFILE).status_code == 200
    assert socket_ticket_redeem(key=session_ticket) is None
    assert [event["type"] for event in received(layer, phone_socket)] == ["auth.revoked"]
    assert received(layer, bot_socket) == []
    assert api_token_authenticate(key=key) == token
    assert socket_ticket_redeem(key=token_ticket) is not None


def test_sign_out_everywhere_can_revoke_every_api_token_and_their_unused_tickets(
    client, make_user, django_capture_on_commit_callbacks
):
    user, bystander = make_user(), make_user()
    client.force_login(user)
    tokens = [api_token_create(user=user, name=name) for name in ("bot", "script")]
    _, bystander_key = api_token_create(user=bystander, name="theirs")
    unused = [socket_ticket_issue(user=user, token_id=token.id) for token, _ in tokens]
    layer, bot_socket = listen(*(publisher.token_group(token.id) for token, _ in tokens))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(SIGN_OUT_EVERYWHERE, {"revoke_tokens": "on"}, follow=True)

    assert "your API tokens are revoked" in response.content.decode()
    for token, key in tokens:
        token.refresh_from_db()
        assert token.revoked_at is not None
        assert api_token_authenticate(key=key) is None
    assert not SocketTicket.objects.filter(user=user, used_at__isnull=True).exists()
    assert all(socket_ticket_redeem(key=ticket) is None for ticket in unused)
    assert [event["type"] for event in received(layer, bot_socket)] == ["auth.revoked"] * 2
    assert api_token_authenticate(key=bystander_key) is not None


def test_a_keys_credential_names_its_live_token_and_records_its_use_once_a_minute(user):
    token, key = api_token_create(user=user, name="bot")

    assert api_token_credential(key=key) == Credential(user_id=user.id, token_id=token.id)
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None
    assert api_token_credential(key=key) is not None
    token.refresh_from_db()
    assert token.last_used_at == first_use  # within the minute: not written again

    ApiToken.objects.filter(id=token.id).update(last_used_at=first_use - timedelta(minutes=2))
    api_token_credential(key=key)
    token.refresh_from_db()
    assert token.last_used_at > first_use - timedelta(minutes=2)

    assert api_token_credential(key=key + "x") is None
    assert api_token_credential(key=key.removeprefix("plt_")) is None
    user.is_active = False
    user.save()
    assert api_token_credential(key=key) is None
    user.is_active = True
    user.save()
    ApiToken.objects.filter(id=token.id).update(revoked_at=timezone.now())
    assert api_token_credential(key=key) is None
