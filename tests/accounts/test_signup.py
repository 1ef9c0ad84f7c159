import pytest
from django.urls import reverse

from accounts.models import User

SIGNUP = reverse("accounts:signup")


def signup_data(**overrides) -> dict:
    data = {
        "username": "newcomer",
        "email": "newcomer@example.com",
        "password1": "a-long-unusual-passphrase",
        "password2": "a-long-unusual-passphrase",
    }
    return data | overrides


@pytest.mark.django_db
def test_signup_creates_account_logs_in_and_goes_to_the_lobby(client):
    response = client.post(SIGNUP, signup_data())

    assert response.status_code == 302
    assert response.url == reverse("chat:lobby")
    user = User.objects.get(username="newcomer")
    assert user.email == "newcomer@example.com"
    assert user.check_password("a-long-unusual-passphrase")
    assert client.session["_auth_user_id"] == str(user.pk)


def test_signup_refuses_taken_username_whatever_its_case(client, user):
    response = client.post(SIGNUP, signup_data(username=user.username.upper()))

    assert response.status_code == 200
    assert "That username is taken" in response.context["form"].errors["username"][0]
    assert User.objects.count() == 1
    assert "_auth_user_id" not in client.session


def test_signup_refuses_taken_email_in_another_case(client, user):
    response = client.post(SIGNUP, signup_data(email=user.email.upper()))

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [
        "An account with that email address already exists."
    ]
    assert User.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["password", "12345678901", "short"])
def test_signup_refuses_weak_password(client, password):
    response = client.post(SIGNUP, signup_data(password1=password, password2=password))

    assert response.status_code == 200
    assert response.context["form"].errors["password1"]
    assert not User.objects.exists()


@pytest.mark.django_db
def test_signup_refuses_password_too_like_the_username(client):
    data = signup_data(
        username="marmaladecat", password1="marmaladecat1", password2="marmaladecat1"
    )

    response = client.post(SIGNUP, data)

    assert "too similar" in response.context["form"].errors["password1"][0]
    assert not User.objects.exists()


@pytest.mark.django_db
def test_signup_refuses_mismatched_passwords(client):
    response = client.post(SIGNUP, signup_data(password2="a-different-passphrase"))

    assert response.context["form"].errors["password2"] == ["The two passwords differ."]
    assert not User.objects.exists()


@pytest.mark.django_db
def test_signup_page_labels_every_field(client):
    response = client.get(SIGNUP)

    html = response.content.decode()
    for field in ("id_username", "id_email", "id_password1", "id_password2"):
        assert f'<label for="{field}"' in html
    assert "csrfmiddlewaretoken" in html
