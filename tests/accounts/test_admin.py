from django.urls import reverse

from accounts import services
from accounts.models import ApiToken
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
