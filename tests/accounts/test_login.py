import time

import pytest
from django.urls import reverse
from django.utils.module_loading import import_string

from config import settings as project_settings
from tests.factories import PASSWORD

LOGIN = reverse("accounts:login")
ADMIN_LOGIN = reverse("admin:login")
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

    from realtime import publisher

    client.force_login(user)
    group = publisher.session_group(client.session.session_key)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(LOGOUT)

    event = async_to_sync(layer.receive)(channel)
    assert event == {"type": "auth.revoked", "reason": "logged_out", "group": group}


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


def test_locked_pair_is_refused_whatever_the_case_of_the_username(client, user, settings):
    settings.LOGIN_THROTTLE_LIMIT = 3
    for _ in range(3):
        log_in(client, user.username, "wrong-password", address="10.0.0.1")

    response = log_in(client, user.username.upper(), PASSWORD, address="10.0.0.1")

    assert THROTTLED in response.content.decode()


def test_strangers_failures_never_lock_the_owner_out_from_another_address(
    client, user, settings, any_cache
):
    settings.LOGIN_THROTTLE_LIMIT = 5
    for index in range(8):
        log_in(client, user.username, "wrong-password", address=f"10.6.6.{index}")

    response = log_in(client, user.username, PASSWORD, address="10.0.0.1")

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_forged_forwarded_for_cannot_lock_the_owner_out(client, user, settings):
    settings.LOGIN_THROTTLE_LIMIT = 5
    for index in range(6):
        client.post(
            LOGIN,
            {"username": user.username, "password": "wrong-password"},
            REMOTE_ADDR="10.6.6.6",
            HTTP_X_FORWARDED_FOR=f"10.0.0.1, 198.51.100.{index}",
        )

    owner = log_in(client, user.username, PASSWORD, address="10.0.0.1")

    assert owner.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_forged_forwarded_for_does_not_give_the_attacker_fresh_tries(client, user, settings):
    settings.LOGIN_THROTTLE_LIMIT = 5
    for index in range(5):
        client.post(
            LOGIN,
            {"username": user.username, "password": "wrong-password"},
            REMOTE_ADDR="10.6.6.6",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{index}",
        )

    response = client.post(
        LOGIN,
        {"username": user.username, "password": PASSWORD},
        REMOTE_ADDR="10.6.6.6",
        HTTP_X_FORWARDED_FOR="198.51.100.99",
    )

    assert THROTTLED in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_one_ipv6_network_counts_as_one_address(client, user, settings):
    settings.LOGIN_THROTTLE_LIMIT = 3
    for index in range(3):
        log_in(client, user.username, "wrong-password", address=f"2001:db8:1:2::{index + 1}")

    same_network = log_in(client, user.username, PASSWORD, address="2001:db8:1:2:ffff::9")
    other_network = log_in(client, user.username, PASSWORD, address="2001:db8:1:3::1")

    assert THROTTLED in same_network.content.decode()
    assert other_network.status_code == 302


def test_address_over_its_limit_is_refused_for_every_account(client, make_user, settings):
    settings.LOGIN_THROTTLE_LIMIT = 5
    settings.LOGIN_THROTTLE_ADDRESS_LIMIT = 20
    for index in range(20):
        response = log_in(client, f"guess{index}", "wrong-password", address="10.0.0.1")
        assert THROTTLED not in response.content.decode()
    other = make_user()

    refused = log_in(client, other.username, PASSWORD, address="10.0.0.1")
    elsewhere = log_in(client, other.username, PASSWORD, address="10.0.0.2")

    assert THROTTLED in refused.content.decode()
    assert elsewhere.status_code == 302


def test_throttled_address_is_refused_for_another_account(client, make_user, settings):
    settings.LOGIN_THROTTLE_ADDRESS_LIMIT = 3
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


def test_successful_login_clears_the_pairs_failures(client, user, settings, any_cache):
    settings.LOGIN_THROTTLE_LIMIT = 3
    for _ in range(2):
        log_in(client, user.username, "wrong-password", address="10.0.0.1")
    assert log_in(client, user.username, PASSWORD, address="10.0.0.1").status_code == 302
    client.logout()

    for _ in range(2):
        response = log_in(client, user.username, "wrong-password", address="10.0.0.1")
        assert THROTTLED not in response.content.decode()
    assert log_in(client, user.username, PASSWORD, address="10.0.0.1").status_code == 302


def test_throttled_attempt_does_not_check_the_password(client, user, settings, monkeypatch):
    settings.LOGIN_THROTTLE_LIMIT = 1
    log_in(client, user.username, "wrong-password")
    checked = []
    monkeypatch.setattr(
        "django.contrib.auth.forms.authenticate", lambda *a, **kw: checked.append(kw)
    )

    log_in(client, user.username, PASSWORD)

    assert checked == []


def admin_log_in(client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(
        ADMIN_LOGIN,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def test_admin_login_refuses_the_right_password_after_eight_wrong_ones(client, make_user, settings):
    settings.LOGIN_THROTTLE_LIMIT = 5
    admin = make_user(is_staff=True, is_superuser=True)
    for _ in range(8):
        admin_log_in(client, admin.username, "wrong-password")

    response = admin_log_in(client, admin.username, PASSWORD)

    assert response.status_code == 200
    assert f"{THROTTLED} 5 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_admin_and_site_login_share_one_throttle(client, make_user, settings):
    settings.LOGIN_THROTTLE_LIMIT = 4
    admin = make_user(is_staff=True, is_superuser=True)
    for _ in range(2):
        log_in(client, admin.username, "wrong-password")
        admin_log_in(client, admin.username, "wrong-password")

    assert THROTTLED in admin_log_in(client, admin.username, PASSWORD).content.decode()
    assert THROTTLED in log_in(client, admin.username, PASSWORD).content.decode()
    assert admin_log_in(client, admin.username, PASSWORD, address="10.0.0.2").status_code == 302


@pytest.mark.django_db
def test_login_page_has_labels_and_csrf(client):
    html = client.get(LOGIN).content.decode()

    assert '<label for="id_username"' in html
    assert '<label for="id_password"' in html
    assert "csrfmiddlewaretoken" in html


def test_the_one_process_cache_keeps_a_lock_through_a_flood_of_other_keys():
    """`make run`'s cache (no Redis) holds the throttle's counts and the revocation markers: a
    flood of other keys (failures from many addresses) must not cull them (default: 300 keys)."""
    config = project_settings.CACHES["default"]
    cache = import_string(config["BACKEND"])("flood-test", config)
    cache.set("login:alice@127.0.0.20", 5, 300)
    for n in range(1000):
        cache.set(f"login:someone@10.0.{n // 250}.{n % 250}", 1, 300)
    assert cache.get("login:alice@127.0.0.20") == 5
