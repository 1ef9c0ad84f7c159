import re

import pytest
from django.urls import reverse


def test_signed_in_header_has_chats_profile_and_a_post_logout(client, make_user):
    person = make_user(first_name="Grace", last_name="Hopper")
    client.force_login(person)

    html = client.get(reverse("accounts:profile")).content.decode()

    assert f'href="{reverse("chat:lobby")}"' in html
    assert ">Chats</a>" in html
    assert reverse("accounts:initials_avatar", args=[person.username]) in html
    assert "Grace Hopper" in html
    logout_form = re.search(
        rf'<form[^>]*method="post"[^>]*action="{reverse("accounts:logout")}"[^>]*>(.*?)</form>',
        html,
        re.S,
    )
    assert logout_form and "csrfmiddlewaretoken" in logout_form.group(1)
    assert '<main id="main">' in html


@pytest.mark.django_db
def test_signed_out_header_offers_log_in_and_sign_up(client):
    html = client.get(reverse("accounts:login")).content.decode()

    assert f'href="{reverse("accounts:login")}"' in html
    assert f'href="{reverse("accounts:signup")}"' in html
    assert reverse("accounts:logout") not in html


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["accounts:login", "accounts:signup", "accounts:password_reset"])
def test_pages_have_no_inline_script_or_style(client, name):
    html = client.get(reverse(name)).content.decode()

    assert "css/parley.css" in html
    assert " style=" not in html
    assert "<style" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None


def test_messages_are_shown_under_the_header(client, user):
    client.force_login(user)

    response = client.post(reverse("accounts:token_create"), {"name": "x"}, follow=True)
    response = client.post(
        reverse("accounts:token_revoke", args=[response.context["tokens"][0].id]), follow=True
    )

    html = response.content.decode()
    assert html.index("</header>") < html.index("The token is revoked") < html.index("<main")
