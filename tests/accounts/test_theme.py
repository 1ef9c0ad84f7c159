"""The colour scheme: the system's unless the user picks light or dark, kept on the account."""

import pytest
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def html_tag(response) -> str:
    body = response.content.decode()
    return body[body.index("<html") : body.index(">", body.index("<html"))]


def test_pages_follow_the_system_until_the_user_picks_a_scheme(client):
    assert 'data-theme="system"' in html_tag(client.get(reverse("accounts:login")))
    client.force_login(UserFactory())
    assert 'data-theme="system"' in html_tag(client.get(reverse("accounts:profile")))


@pytest.mark.parametrize("theme", ["dark", "light", "system"])
def test_the_header_form_keeps_the_choice_and_returns_to_the_page(client, theme):
    user = UserFactory()
    client.force_login(user)
    search = reverse("chat:search") + "?q=hello"

    response = client.post(reverse("accounts:theme"), {"theme": theme, "next": search})

    assert response.status_code == 302 and response.url == search
    user.refresh_from_db()
    assert user.theme == theme
    page = client.get(reverse("accounts:profile"))
    assert f'data-theme="{theme}"' in html_tag(page)
    assert f'value="{theme}" class="theme-option"' in page.content.decode()
    pressed = page.content.decode().split(f'value="{theme}"')[1].split(">")[0]
    assert 'aria-pressed="true"' in pressed


def test_an_unknown_scheme_is_refused(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(reverse("accounts:theme"), {"theme": "neon"})
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.theme == User.Theme.SYSTEM


def test_the_return_address_never_leaves_the_site(client):
    client.force_login(UserFactory())
    response = client.post(
        reverse("accounts:theme"), {"theme": "dark", "next": "https://evil.example/"}
    )
    assert response.url == reverse("accounts:profile")


def test_signed_out_visitors_cannot_choose_and_a_get_changes_nothing(client):
    response = client.post(reverse("accounts:theme"), {"theme": "dark"})
    assert response.status_code == 302 and reverse("accounts:login") in response.url
    user = UserFactory()
    client.force_login(user)
    assert client.get(reverse("accounts:theme"), {"theme": "dark"}).status_code == 405
    user.refresh_from_db()
    assert user.theme == User.Theme.SYSTEM
