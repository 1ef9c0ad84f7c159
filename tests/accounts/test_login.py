import time

import pytest
from django.urls import reverse

from tests.factories import PASSWORD

LOGIN = reverse("accounts:login")
LOGOUT = reverse("accounts:logout")
THROTTLED = "Too many failed attempts; try again in"


def log_in(client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_login_with_right_password_logs_in_and_goes_to_the_lobby(client, user):
    response = log_in(client, user.username, PASSWORD)

    assert response.status_code == 302
    assert response.url == reverse("chat:lobby")
    assert client.session["_auth_user_id"] == str(user.pk)


def test_login_with_wrong_password_shows_an_error(client, user):
    response = log_in(client, user.username, "wrong-password")

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_needs_post(client, user):
    client.force_login(user)

    response = client.get(LOGOUT)

    assert response.status_code == 405
    assert client.session["_auth_user_id"] == str(user.pk)


def test_logout_by_post_ends_the_session(client, user):
    client.force_login(user)

    response = client.post(LOGOUT)

    assert response.status_code == 302
    assert response.url == reverse("accounts:login")
    assert "_auth_user_id" not in client.session


def test_logout_tells_the_sessions_sockets_to_close(
    client, user, django_capture_on_commit_callbacks
):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from chat import realtime

    client.force_login(user)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime.session_group(client.session.session_key), channel)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(LOGOUT)

    event = async_to_sync(layer.receive)(channel)
    assert event == {"type": "auth.revoked", "reason": "logged_out"}


def test_sixth_attempt_is_refused_even_with_the_right_password(client, user, settings, any_cache):
    settings.LOGIN_THROTTLE_LIMIT = 5
    settings.LOGIN_THROTTLE_WINDOW = 300
    for _ in range(5):
        response = log_in(client, user.username, "wrong-password")
        assert THROTTLED not in response.content.decode()

    response = log_in(client, user.username, PASSWORD)

    assert response.status_code == 200
    assert f"{THROTTLED} 5 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_throttled_account_is_refused_from_another_address_too(client, user, settings):
    settings.LOGIN_THROTTLE_LIMIT = 3
    for _ in range(3):
        log_in(client, user.username, "wrong-password", address="10.0.0.1")

    response = log_in(client, user.username.upper(), PASSWORD, address="10.9.9.9")

    assert THROTTLED in response.content.decode()


def test_throttled_address_is_refused_for_another_account(client, make_user, settings):
    settings.LOGIN_THROTTLE_LIMIT = 3
    for index in range(3):
        log_in(client, f"guess{index}", "wrong-password", address="10.0.0.1")
    other = make_user()

    response = log_in(client, other.username, PASSWORD, address="10.0.0.1")

    assert THROTTLED in response.content.decode()


def test_another_account_from_another_address_is_unaffected(client, make_user, settings, any_cache):
    settings.LOGIN_THROTTLE_LIMIT = 3
    victim, other = make_user(), make_user()
    for _ in range(4):
        log_in(client, victim.username, "wrong-password", address="10.0.0.1")

    response = log_in(client, other.username, PASSWORD, address="10.0.0.2")

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(other.pk)


def test_throttle_expires_after_the_window(client, user, settings, any_cache):
    settings.LOGIN_THROTTLE_LIMIT = 2
    settings.LOGIN_THROTTLE_WINDOW = 1
    for _ in range(2):
        log_in(client, user.username, "wrong-password")
    assert THROTTLED in log_in(client, user.username, PASSWORD).content.decode()

    time.sleep(1.2)
    response = log_in(client, user.username, PASSWORD)

    assert response.status_code == 302


def test_successful_login_clears_the_accounts_failures(client, user, settings, any_cache):
    settings.LOGIN_THROTTLE_LIMIT = 3
    for _ in range(2):
        log_in(client, user.username, "wrong-password", address="10.0.0.1")
    assert log_in(client, user.username, PASSWORD, address="10.0.0.2").status_code == 302
    client.logout()

    for _ in range(2):
        response = log_in(client, user.username, "wrong-password", address="10.0.0.3")
        assert THROTTLED not in response.content.decode()
    assert log_in(client, user.username, PASSWORD, address="10.0.0.4").status_code == 302


def test_throttled_attempt_does_not_check_the_password(client, user, settings, monkeypatch):
    settings.LOGIN_THROTTLE_LIMIT = 1
    log_in(client, user.username, "wrong-password")
    checked = []
    monkeypatch.setattr(
        "django.contrib.auth.forms.authenticate", lambda *a, **kw: checked.append(kw)
    )

    log_in(client, user.username, PASSWORD)

    assert checked == []


@pytest.mark.django_db
def test_login_page_has_labels_and_csrf(client):
    html = client.get(LOGIN).content.decode()

    assert '<label for="id_username"' in html
    assert '<label for="id_password"' in html
    assert "csrfmiddlewaretoken" in html
