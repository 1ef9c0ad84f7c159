import pytest
from django.urls import reverse

from accounts.models import User
from tests.accounts.images import image_bytes, upload
from tests.factories import PASSWORD

PROFILE = reverse("accounts:profile")


def profile_data(user, **overrides) -> dict:
    data = {"first_name": user.first_name, "last_name": user.last_name, "email": user.email}
    return data | overrides


@pytest.mark.django_db
def test_dashboard_needs_login(client):
    response = client.get(PROFILE)

    assert response.status_code == 302
    assert response.url == f"{reverse('accounts:login')}?next={PROFILE}"


def test_dashboard_shows_the_profile_and_is_never_cached(client, user):
    client.force_login(user)

    response = client.get(PROFILE)

    assert response.status_code == 200
    assert response.context["form"].initial["email"] == user.email
    assert "no-store" in response["Cache-Control"]


def test_user_updates_their_name_and_email(client, user):
    client.force_login(user)

    response = client.post(
        PROFILE,
        profile_data(
            user,
            first_name="Ada",
            last_name="Lovelace",
            email="ada@example.org",
            current_password=PASSWORD,
        ),
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.email) == ("Ada", "Lovelace", "ada@example.org")
    assert user.display_name == "Ada Lovelace"


def test_email_taken_by_another_account_in_another_case_is_refused(client, make_user):
    me, other = make_user(), make_user(email="Taken@Example.com")
    client.force_login(me)

    response = client.post(PROFILE, profile_data(me, email="taken@example.COM"))

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [
        "An account with that email address already exists."
    ]
    me.refresh_from_db()
    assert me.email != other.email


def test_user_may_keep_their_own_email_in_another_case(client, user):
    client.force_login(user)

    response = client.post(
        PROFILE, profile_data(user, email=user.email.upper(), current_password=PASSWORD)
    )

    assert response.status_code == 302


def test_profile_form_edits_only_the_signed_in_user(client, make_user):
    me, other = make_user(), make_user()
    client.force_login(me)

    client.post(
        PROFILE,
        profile_data(me, first_name="Mallory", id=other.id, pk=other.id, username=other.username),
    )

    me.refresh_from_db()
    other_after = User.objects.get(pk=other.pk)
    assert me.first_name == "Mallory"
    assert me.username != other.username
    assert (other_after.first_name, other_after.username) == (other.first_name, other.username)


def test_invalid_profile_form_does_not_change_the_header(client, make_user):
    me = make_user(first_name="Grace", last_name="Hopper")
    make_user(email="taken@example.com")
    client.force_login(me)

    response = client.post(
        PROFILE, profile_data(me, first_name="Changed", email="taken@example.com")
    )

    assert response.status_code == 200
    assert "Grace Hopper" in response.content.decode()
    me.refresh_from_db()
    assert me.first_name == "Grace"


def test_changing_the_email_address_asks_for_the_current_password(client, user):
    client.force_login(user)
    old_email, old_first_name = user.email, user.first_name

    for password, error in (
        ("", "Enter your current password to change your email address."),
        ("not-my-password", "That is not your current password."),
    ):
        response = client.post(
            PROFILE,
            profile_data(
                user,
                first_name="Mallory",
                email="mallory@example.net",
                current_password=password,
                avatar=upload(image_bytes()),
            ),
        )
        assert response.status_code == 200
        assert response.context["form"].errors["current_password"] == [error]
        assert error in response.content.decode()
        user.refresh_from_db()
        assert (user.email, user.first_name, user.avatar.name) == (old_email, old_first_name, "")

    response = client.post(
        PROFILE, profile_data(user, email="new@example.net", current_password=PASSWORD)
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email == "new@example.net"


def test_changing_only_the_name_needs_no_password(client, user):
    client.force_login(user)

    response = client.post(PROFILE, profile_data(user, first_name="Ada", last_name="Lovelace"))

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.display_name == "Ada Lovelace"


def test_email_change_password_guesses_share_the_login_throttle(client, user, settings, any_cache):
    settings.LOGIN_THROTTLE_LIMIT = 3
    client.force_login(user)
    new_email = profile_data(user, email="thief@example.net")
    for _ in range(3):
        response = client.post(PROFILE, new_email | {"current_password": "guess"})
        assert "Too many failed attempts" not in response.content.decode()

    refused = client.post(PROFILE, new_email | {"current_password": PASSWORD})

    assert "Too many failed attempts" in refused.context["form"].errors["current_password"][0]
    user.refresh_from_db()
    assert user.email != "thief@example.net"
    client.logout()
    login = client.post(
        reverse("accounts:login"), {"username": user.username, "password": PASSWORD}
    )
    assert login.status_code == 200 and "Too many failed attempts" in login.content.decode()
