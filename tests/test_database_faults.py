"""A database connection cut by the server costs no request."""

import pytest
import requests
from django.conf import settings
from django.db import connection

from accounts.services import api_token_create
from tests.conftest import TERMINATE_SERVER_BACKENDS
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True)]


def terminate_server_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(TERMINATE_SERVER_BACKENDS, [settings.TEST_APPLICATION_NAME])
        return cursor.fetchone()[0]


def test_requests_after_the_servers_backends_are_terminated_all_succeed(live_url):
    _, key = api_token_create(user=UserFactory(), name="bot")
    headers = {"Authorization": f"Bearer {key}"}
    assert requests.get(f"{live_url}/api/rooms/", headers=headers, timeout=10).status_code == 200
    assert terminate_server_backends() >= 1
    statuses = [
        requests.get(f"{live_url}/api/rooms/", headers=headers, timeout=10).status_code
        for _ in range(5)
    ]
    assert statuses == [200] * 5
