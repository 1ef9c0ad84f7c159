"""The queries on a message's way, guarded as Zulip guards its hot paths."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import services
from chat.models import Room
from tests.factories import UserFactory, make_room

pytestmark = pytest.mark.django_db


def test_a_plain_message_is_stored_in_one_statement():
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    with CaptureQueriesContext(connection) as queries:
        message, created = services.message_store(
            author=alice, room_id=room.id, body="hello **bob**", client_id=uuid.uuid4()
        )
    assert created and message.body_html == "<p>hello <strong>bob</strong></p>"
    # The test's own transaction turns the message's into a savepoint: not a statement of its.
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1, statements  # its room's next seq taken and its row inserted


def test_a_resend_costs_a_lookup_only_when_it_happens_and_is_answered_with_the_first_copy():
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    client_id = uuid.uuid4()
    first, _ = services.message_store(
        author=alice, room_id=room.id, body="once", client_id=client_id
    )
    again, created = services.message_store(
        author=alice, room_id=room.id, body="once", client_id=client_id
    )
    assert (again.id, created) == (first.id, False)
    assert room.messages.count() == 1


def test_the_insert_of_sends_is_prepared_once_per_connection_and_logged_as_written():
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    with CaptureQueriesContext(connection) as queries:
        for body in ("one", "two", "three"):
            services.message_store(author=alice, room_id=room.id, body=body, client_id=uuid.uuid4())
    inserts = [q["sql"] for q in queries if "jsonb_to_recordset" in q["sql"]]
    assert len(inserts) == 3
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%jsonb_to_recordset($1::jsonb)%"],
        )
        assert cursor.fetchone()[0] == 1  # planned once, for this connection
    assert room.messages.count() == 3
