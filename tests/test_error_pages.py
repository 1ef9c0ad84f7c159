"""Errors are the site's own pages: styled, with a way back, and never Django's debug pages."""

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def assert_styled(response, status: int, heading: str) -> str:
    body = response.content.decode()
    assert response.status_code == status
    assert "/static/css/parley.css" in body
    assert heading in body
    assert f'href="{reverse("chat:lobby")}"' in body  # a way back
    assert "Traceback" not in body and "DEBUG = True" not in body
    return body


def test_an_unknown_address_is_the_styled_404(client, settings):
    settings.DEBUG = False
    client.force_login(UserFactory())
    assert_styled(client.get("/no-such-page/"), 404, "Page not found")


def test_a_refused_form_is_the_styled_403_saying_how_to_recover(settings):
    settings.DEBUG = False
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())

    response = client.post(reverse("accounts:theme"), {"theme": "dark"})

    body = assert_styled(response, 403, "This form has expired")
    assert "reload the page" in body


def test_a_forbidden_page_is_the_styled_403():
    body = render_to_string("403.html")
    assert "You may not do that" in body


def test_a_bad_request_is_the_styled_400(client, settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["testserver"]
    assert_styled(client.get("/accounts/login/", HTTP_HOST="evil.example"), 400, "could not be")


def test_the_500_page_renders_without_a_request_or_the_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        body = render_to_string("500.html")
    assert "Something went wrong on our side" in body
    assert f'href="{reverse("chat:lobby")}"' in body


def test_a_server_error_is_the_styled_500(settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests.failing_urls"
    client = Client(raise_request_exception=False)
    assert_styled(client.get("/fail/"), 500, "Something went wrong on our side")
