import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import ApiToken
from realtime import publisher
from tests.accounts.images import image_bytes, upload


def test_staff_sees_users_and_tokens_in_the_admin(admin_client, user):
    services.api_token_create(user=user, name="visible bot")

    users = admin_client.get(reverse("admin:accounts_user_changelist"))
    tokens = admin_client.get(reverse("admin:accounts_apitoken_changelist"))

    assert user.username in users.content.decode()
    assert "visible bot" in tokens.content.decode()


def test_admin_user_page_shows_the_picture(admin_client, user):
    services.avatar_set(user=user, upload=upload(image_bytes()))

    response = admin_client.get(reverse("admin:accounts_user_change", args=[user.id]))

    assert response.status_code == 200
    assert user.avatar.url in response.content.decode()


def test_admin_cannot_add_or_edit_tokens_but_can_revoke(admin_client, user):
    token, _ = services.api_token_create(user=user, name="bot")

    assert admin_client.get(reverse("admin:accounts_apitoken_add")).status_code == 403
    admin_client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.id]},
    )

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiToken.objects.count() == 1


def test_non_staff_cannot_use_the_admin(client, user):
    client.force_login(user)

    response = client.get(reverse("admin:accounts_apitoken_changelist"))

    assert response.status_code == 302
    assert "/admin/login/" in response.url


NEW_PASSWORD = "an-admin-chosen-passphrase"


def admin_sets_password(admin_client, user, **extra):
    return admin_client.post(
        reverse("admin:auth_user_password_change", args=[user.id]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"} | extra,
    )


def test_password_set_by_an_admin_signs_the_user_out_everywhere_logs_and_mails_them(
    admin_client, admin_user, user, caplog, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://chat.example.com:8443"
    laptop, phone = Client(), Client()
    laptop.force_login(user)
    phone.force_login(user)
    ticket = services.socket_ticket_issue(user=user, session_key=phone.session.session_key)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(publisher.session_group(laptop.session.session_key), channel)

    with django_capture_on_commit_callbacks(execute=True), caplog.at_level(logging.WARNING):
        response = admin_sets_password(admin_client, user)

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not [
        s for s in Session.objects.all() if s.get_decoded().get(SESSION_KEY) == str(user.pk)
    ]
    for device in (laptop, phone):
        assert device.get(reverse("accounts:profile")).status_code == 302
    assert services.socket_ticket_redeem(key=ticket) is None
    assert async_to_sync(layer.receive)(channel)["type"] == "auth.revoked"
    assert admin_client.get(reverse("admin:index")).status_code == 200  # the admin stays in

    [record] = [r for r in caplog.records if r.name == "accounts.admin"]
    assert record.levelno == logging.WARNING
    assert str(admin_user.pk) in record.getMessage() and str(user.pk) in record.getMessage()
    assert NEW_PASSWORD not in record.getMessage()

    [message] = mail.outbox
    assert message.to == [user.email]
    assert "administrator" in message.body
    assert "https://chat.example.com:8443/accounts/password/reset/" in message.body
    assert NEW_PASSWORD not in message.body
    assert not message.alternatives


def test_admin_turning_off_password_login_also_signs_the_user_out(admin_client, client, user):
    client.force_login(user)

    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[user.id]),
        {"usable_password": "false", "unset-password": "1"},
    )

    assert response.status_code == 302
    assert client.get(reverse("accounts:profile")).status_code == 302
    assert len(mail.outbox) == 1


def test_an_invalid_admin_password_form_changes_and_mails_nothing(admin_client, client, user):
    client.force_login(user)

    response = admin_sets_password(admin_client, user, password2="something-else-entirely")

    assert response.status_code == 200
    assert client.get(reverse("accounts:profile")).status_code == 200
    assert mail.outbox == []


def test_admin_changing_their_own_password_keeps_their_session(admin_client, admin_user):
    response = admin_sets_password(admin_client, admin_user)

    assert response.status_code == 302
    assert admin_client.get(reverse("admin:index")).status_code == 200
    assert len(mail.outbox) == 1


def test_email_changed_by_an_admin_is_logged_and_mailed_to_the_old_address(
    admin_client, admin_user, user, caplog
):
    old_email = user.email
    data = {
        "username": user.username,
        "email": "taken-over@example.net",
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }

    with caplog.at_level(logging.WARNING):
        response = admin_client.post(reverse("admin:accounts_user_change", args=[user.id]), data)

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email == "taken-over@example.net"
    [record] = [r for r in caplog.records if r.name == "accounts.admin"]
    assert f"admin {admin_user.pk} changed the email address of user {user.pk}" in (
        record.getMessage()
    )
    [message] = mail.outbox
    assert message.to == [old_email]
    assert "taken-over@example.net" in message.body
