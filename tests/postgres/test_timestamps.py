"""timestamptz values come through psycopg's C loader, equal to what Django's own loader gives."""

import datetime

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader

from postgres.timestamps import TIMESTAMPTZ_OID, CTimestamptzLoader

pytestmark = pytest.mark.django_db

VALUES = [
    "2026-12-07 06:53:43.030092+00",
    "2026-03-29 01:30:00+02",
    "1970-01-01 00:00:00+00",
    "2000-02-29 23:59:59.999999-05:30",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
]
QUERY = "SELECT value::timestamptz FROM unnest(%s::text[]) AS value"


def test_connections_load_timestamps_with_the_c_loader():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, 0)
    assert loader is CTimestamptzLoader
    with connection.cursor() as cursor:  # Django keeps it: it agrees on the time zone
        assert cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, 0) is CTimestamptzLoader


def test_the_c_loader_gives_what_djangos_loader_gives():
    with connection.cursor() as cursor:
        cursor.execute(QUERY, [VALUES])
        loaded = [value for (value,) in cursor.fetchall()]
    with connection.cursor() as cursor:
        register_tzloader(connection.timezone, cursor.cursor)  # Django's, on this cursor alone
        cursor.execute(QUERY, [VALUES])
        by_django = [value for (value,) in cursor.fetchall()]

    assert loaded == by_django
    assert [value.tzinfo for value in loaded] == [datetime.UTC] * len(VALUES)
    assert loaded[1] == datetime.datetime(2026, 3, 28, 23, 30, tzinfo=datetime.UTC)
