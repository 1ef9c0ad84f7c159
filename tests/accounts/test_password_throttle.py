"""Password checks outside the log-in forms go through the same throttle."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.forms import ThrottledPasswordChangeForm
from tests.factories import PASSWORD

LOGIN = reverse("accounts:login")
PASSWORD_CHANGE = reverse("accounts:password_change")
NEW_PASSWORD = "a-fresh-long-passphrase"
THROTTLED = "Too many failed attempts; try again in"


def change_password(client, old_password: str, address: str = "10.0.0.1"):
    return client.post(
        PASSWORD_CHANGE,
        {
            "old_password": old_password,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        REMOTE_ADDR=address,
    )


def reset_link(client, user) -> str:
    client.post(reverse("accounts:password_reset"), {"email": user.email})
    return re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", mail.outbox[-1].body)[1]


def test_password_change_refuses_the_right_old_password_after_too_many_wrong_ones(
    client, user, settings
):
    settings.LOGIN_THROTTLE_LIMIT = 5
    client.force_login(user)
    for _ in range(5):
        assert THROTTLED not in change_password(client, "not-it").content.decode()

    response = change_password(client, PASSWORD)

    assert response.status_code == 200
    assert f"{THROTTLED} 5 minutes" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_change_and_login_share_one_throttle(client, user, settings):
    settings.LOGIN_THROTTLE_LIMIT = 3
    client.force_login(user)
    for _ in range(3):
        change_password(client, "not-it")
    client.logout()

    response = client.post(
        LOGIN, {"username": user.username, "password": PASSWORD}, REMOTE_ADDR="10.0.0.1"
    )

    assert THROTTLED in response.content.decode()


def test_bad_reset_links_count_against_the_address(client, user, settings):
    settings.LOGIN_THROTTLE_ADDRESS_LIMIT = 3
    link = reset_link(client, user)
    uid = link.split("/")[-3]
    for index in range(3):
        bad = client.get(
            f"/accounts/password/reset/{uid}/bad-token-{index}/", REMOTE_ADDR="10.6.6.6"
        )
        assert bad.context["validlink"] is False

    refused = client.get(link, REMOTE_ADDR="10.6.6.6")
    elsewhere = client.get(link, REMOTE_ADDR="10.0.0.1", follow=True)

    assert refused.status_code == 429
    assert f"{THROTTLED} 5 minutes" in refused.content.decode()
    assert elsewhere.context["validlink"] is True


@pytest.mark.parametrize("address", ["10.0.0.1", "2001:db8::1"])
def test_a_reset_by_mail_works_while_locked_out_and_unlocks_the_pair(
    client, user, settings, address
):
    settings.LOGIN_THROTTLE_LIMIT = 3
    for _ in range(3):
        client.post(LOGIN, {"username": user.username, "password": "no"}, REMOTE_ADDR=address)
    link = reset_link(client, user)

    form_page = client.get(link, REMOTE_ADDR=address, follow=True)
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        REMOTE_ADDR=address,
    )
    login = client.post(
        LOGIN, {"username": user.username, "password": NEW_PASSWORD}, REMOTE_ADDR=address
    )

    assert done.url == reverse("accounts:password_reset_complete")
    assert login.status_code == 302


def test_admins_own_password_change_is_the_throttled_one(client, make_user, settings):
    settings.LOGIN_THROTTLE_LIMIT = 5
    admin = make_user(is_staff=True, is_superuser=True)
    client.force_login(admin)
    admin_page = reverse("admin:password_change")
    for _ in range(8):
        client.post(admin_page, {"old_password": "not-it", "new_password1": NEW_PASSWORD})

    response = client.post(
        admin_page,
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )

    assert response.redirect_chain[0][0] == PASSWORD_CHANGE
    assert isinstance(response.context["form"], ThrottledPasswordChangeForm)
    admin.refresh_from_db()
    assert admin.check_password(PASSWORD)
