import re

import pytest
from django.core import mail
from django.urls import reverse

from tests.factories import PASSWORD
from tests.test_settings import manage


def test_password_change_sets_the_new_password_and_keeps_the_session(client, user):
    client.force_login(user)

    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-fresh-long-passphrase",
            "new_password2": "a-fresh-long-passphrase",
        },
    )

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_change_done")
    user.refresh_from_db()
    assert user.check_password("a-fresh-long-passphrase")
    assert client.get(reverse("accounts:profile")).status_code == 200


def test_password_change_refuses_a_wrong_old_password(client, user):
    client.force_login(user)

    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": "not-it",
            "new_password1": "a-fresh-long-passphrase",
            "new_password2": "a-fresh-long-passphrase",
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors["old_password"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.django_db
def test_password_change_needs_login(client):
    response = client.get(reverse("accounts:password_change"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_password_reset_mails_a_working_link(client, user):
    response = client.post(reverse("accounts:password_reset"), {"email": user.email.upper()})

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", message.body).group(1)

    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-fresh-long-passphrase", "new_password2": "a-fresh-long-passphrase"},
    )
    assert done.url == reverse("accounts:password_reset_complete")
    user.refresh_from_db()
    assert user.check_password("a-fresh-long-passphrase")


@pytest.mark.django_db
def test_password_reset_for_an_unknown_address_sends_nothing_and_looks_the_same(client):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    assert mail.outbox == []


def test_password_reset_link_uses_site_url_and_never_the_requests_host(client, user, settings):
    settings.SITE_URL = "https://chat.example.com:8443"
    settings.ALLOWED_HOSTS = ["chat.example.com", "testserver"]

    client.post(
        reverse("accounts:password_reset"),
        {"email": user.email},
        HTTP_HOST="chat.example.com:6666",
        HTTP_X_FORWARDED_HOST="evil.example.net",
    )

    [message] = mail.outbox
    links = re.findall(r"\w+://\S+", message.body)
    assert links and all(
        link.startswith("https://chat.example.com:8443/accounts/password/reset/") for link in links
    )
    assert "6666" not in message.body and "evil" not in message.body


def test_site_url_defaults_to_the_first_allowed_host_in_production_and_must_be_an_origin():
    production = {
        "SECRET_KEY": "x7!kq2-production-secret-" + "a9Zb" * 12,
        "DATABASE_URL": "postgresql://postgres@127.0.0.1/parley",
        "ALLOWED_HOSTS": "parley.example.com,www.parley.example.com",
    }
    show = ("shell", "-c", "from django.conf import settings; print(settings.SITE_URL)")

    derived = manage(*show, **production)
    assert derived.stdout.splitlines()[-1] == "https://parley.example.com"
    configured = manage(*show, **production, SITE_URL="https://chat.example.com:8443/")
    assert configured.stdout.splitlines()[-1] == "https://chat.example.com:8443"
    for refused in ({"ALLOWED_HOSTS": "*"}, {"SITE_URL": "chat.example.com"}):
        result = manage(*show, **(production | refused))
        assert result.returncode != 0 and "SITE_URL must be" in result.stderr
