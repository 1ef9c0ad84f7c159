import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

SVG = "{http://www.w3.org/2000/svg}"


def avatar_url(username: str) -> str:
    return reverse("accounts:initials_avatar", args=[username])


def svg(response) -> ET.Element:
    return ET.fromstring(response.content)  # noqa: S314 (our own SVG)


def test_initials_avatar_is_an_svg_with_the_users_initials(client, make_user):
    person = make_user(first_name="ada", last_name="lovelace")
    client.force_login(person)

    response = client.get(avatar_url(person.username))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "private" in response["Cache-Control"]
    assert "max-age=" in response["Cache-Control"]
    root = svg(response)
    assert root.find(f"{SVG}text").text == "AL"


def test_initials_avatar_escapes_the_name(client, make_user):
    person = make_user(first_name="<script>", last_name="&amp")
    client.force_login(person)

    response = client.get(avatar_url(person.username))

    body = response.content.decode()
    assert "<S" not in body
    assert "&lt;&amp;" in body
    assert svg(response).find(f"{SVG}text").text == "<&"


def test_colour_is_stable_per_username_and_differs_between_users(client, make_user):
    first = make_user(username="anna")
    make_user(username="boris")
    client.force_login(first)

    def fill(username):
        root = svg(client.get(avatar_url(username)))
        return root.find(f"{SVG}rect").get("fill")

    assert fill("anna") == fill("anna")
    assert fill("anna") != fill("boris")


def test_initials_avatar_needs_login(client, user):
    response = client.get(avatar_url(user.username))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


@pytest.mark.django_db
def test_initials_avatar_of_unknown_user_is_404(client, user):
    client.force_login(user)

    assert client.get(avatar_url("nobody-here")).status_code == 404


def test_initials_avatar_for_username_with_dots(client, make_user):
    person = make_user(username="j.doe@home", first_name="", last_name="")
    client.force_login(person)

    response = client.get(avatar_url(person.username))

    assert svg(response).find(f"{SVG}text").text == "J"


def test_a_nul_byte_in_the_username_is_a_404_not_a_server_error(client, make_user):
    client.force_login(make_user(username="alice"))
    assert client.get("/accounts/avatar/al%00ice.svg").status_code == 404
