import hashlib

from django.urls import reverse

from accounts.models import ApiToken
from accounts.services import api_token_authenticate, api_token_create

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
