"""Group commit (chat/message_writer.py, services.messages_store): sends that wait together are
stored together, each still authorised and answered on its own, in order, without gaps."""

import asyncio
import threading
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, close_old_connections, connection
from django.test.utils import CaptureQueriesContext

from chat import services
from chat.errors import BadRequest, NotFound
from chat.models import Message, Room
from realtime import publisher
from tests.factories import UserFactory, make_room, new_client_id


def request(author, room, body="hi", **extra) -> dict:
    return {"author": author, "room_id": room.id, "body": body, "client_id": uuid.uuid4(), **extra}


@pytest.mark.django_db
def test_sends_that_wait_together_take_one_statement_and_consecutive_seqs():
    alice, bob = UserFactory(), UserFactory()
    first, second = make_room(Room.Kind.PRIVATE, alice, bob), make_room(Room.Kind.PUBLIC, bob)
    services.message_store(author=bob, room_id=first.id, body="before", client_id=uuid.uuid4())
    requests = [
        request(alice, first, "one"),
        request(bob, second, "two"),
        request(bob, first, "three"),
        request(bob, second, "four"),
        request(alice, first, "five"),
    ]
    with CaptureQueriesContext(connection) as queries:
        outcomes = services.messages_store(requests)
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    # Whatever their number: memberships, the rooms' seqs and the rows in one statement.
    assert len(statements) == 1, statements
    assert all(created for _, created in outcomes)
    assert [(m.room_id, m.seq, m.body) for m, _ in outcomes] == [
        (first.id, 2, "one"),
        (second.id, 1, "two"),
        (first.id, 3, "three"),
        (second.id, 2, "four"),
        (first.id, 4, "five"),
    ]
    stored = {m.id: (m.seq, m.pos, m.body_html) for m in Message.objects.all()}
    assert {m.id: (m.seq, m.pos, m.body_html) for m, _ in outcomes}.items() <= stored.items()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.last_seq, first.last_pos, second.last_seq, second.last_pos) == (4, 4, 2, 2)


@pytest.mark.django_db
def test_each_send_in_a_batch_is_authorised_and_answered_on_its_own():
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    gone = make_room(Room.Kind.PRIVATE, alice)
    gone_id = gone.id
    gone.delete()
    original = services.message_store(author=bob, room_id=room.id, body="q", client_id=uuid.uuid4())
    outcomes = services.messages_store(
        [
            request(alice, room, "fine"),
            request(carol, room, "not a member"),
            request(alice, room, "   "),
            {**request(alice, room), "room_id": gone_id},
            request(bob, room, f"a reply to @{alice.username}", reply_to=original[0].id),
            request(alice, room, "fine too"),
        ]
    )
    assert isinstance(outcomes[1], NotFound)
    assert isinstance(outcomes[2], BadRequest)
    assert isinstance(outcomes[3], NotFound)
    stored = [outcomes[i][0] for i in (0, 4, 5)]
    assert [(m.seq, m.body_html[:12]) for m in stored] == [
        (2, "<p>fine</p>"),
        (3, "<p>a reply t"),
        (4, "<p>fine too<"),
    ]
    assert (stored[1].reply_to_id, stored[1].mentions) == (original[0].id, [alice.id])
    assert Message.objects.filter(room=room).count() == 4  # no gap: seqs 1 to 4


@pytest.mark.django_db
def test_a_deactivated_author_in_a_batch_stores_nothing():
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    type(bob).objects.filter(id=bob.id).update(is_active=False)
    outcomes = services.messages_store([request(alice, room, "yes"), request(bob, room, "no")])
    assert outcomes[0][0].seq == 1 and isinstance(outcomes[1], NotFound)
    assert list(Message.objects.values_list("body", flat=True)) == ["yes"]


@pytest.mark.django_db
def test_a_resend_in_a_batch_is_answered_with_the_first_copy_and_the_others_are_stored():
    alice, bob = UserFactory(), UserFactory()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    first = request(alice, room, "once")
    stored, _ = services.message_store(**first)
    outcomes = services.messages_store(
        [request(bob, room, "new"), {**first, "body": "once again"}, request(alice, room, "also")]
    )
    assert [(m.body, created) for m, created in outcomes] == [
        ("new", True),
        ("once", False),
        ("also", True),
    ]
    assert outcomes[1][0].id == stored.id
    assert sorted(Message.objects.values_list("seq", flat=True)) == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_batches_over_the_same_rooms_in_opposite_orders_never_deadlock():
    """Two processes' batches lock their rooms in the order of the rooms' ids, whatever order
    their sends came in."""
    alice = UserFactory()
    rooms = [make_room(Room.Kind.PRIVATE, alice) for _ in range(4)]
    failures = []

    def writer(order):
        try:
            for _ in range(25):
                services.messages_store([request(alice, room) for room in order])
        except Exception as error:
            failures.append(error)
        finally:
            close_old_connections()
            connection.close()

    threads = [
        threading.Thread(target=writer, args=(rooms,)),
        threading.Thread(target=writer, args=(rooms[::-1],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    for room in rooms:
        seqs = sorted(Message.objects.filter(room=room).values_list("seq", flat=True))
        assert seqs == list(range(1, 51))


# Through the socket: the writer batches what waits, and answers each sender.


@pytest.fixture
def slow_first_batch(monkeypatch):
    """The database is slow for the first batch, so that the sends after it pile up; the batch
    sizes seen are recorded."""
    real = services.messages_store
    sizes = []

    def messages_store(requests):
        sizes.append(len(requests))
        if len(sizes) == 1:
            time.sleep(0.4)
        return real(requests)

    monkeypatch.setattr(services, "messages_store", messages_store)
    return sizes


@sync_to_async
def members_in_a_room(count):
    people = [UserFactory() for _ in range(count)]
    return people, make_room(Room.Kind.PRIVATE, *people)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_sends_from_many_sockets_are_stored_together_each_acknowledged_once(
    sockets, slow_first_batch
):
    people, room = await members_in_a_room(6)
    clients = [(await sockets(person))[0] for person in people]
    client_ids = [new_client_id() for _ in clients]
    await clients[0].send(type="send", room=room.id, body="first", client_id=client_ids[0])
    await asyncio.sleep(0.1)  # the first batch is being stored
    for index, client in enumerate(clients[1:], start=1):
        await client.send(type="send", room=room.id, body=f"m{index}", client_id=client_ids[index])
    heard = [
        [(await client.receive_type("message"))["message"] for _ in clients] for client in clients
    ]
    assert slow_first_batch == [1, 5]
    for messages in heard:  # every socket saw every message once, in seq order
        assert [m["seq"] for m in messages] == [1, 2, 3, 4, 5, 6]
        assert sorted(m["client_id"] for m in messages) == sorted(client_ids)
    for client in clients:
        assert await client.nothing(0.2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_past_the_queue_bound_a_send_is_answered_overloaded_and_its_resend_is_stored(
    sockets, slow_first_batch, settings
):
    settings.CHAT_STORE_QUEUE_MAX = 1
    people, room = await members_in_a_room(3)
    clients = [(await sockets(person))[0] for person in people]
    client_ids = [new_client_id() for _ in clients]
    for index, client in enumerate(clients):
        await client.send(type="send", room=room.id, body=f"m{index}", client_id=client_ids[index])
        await asyncio.sleep(0.05)
    refused = await clients[2].receive_type("error")
    assert (refused["code"], refused["client_id"], refused["retry_after"]) == (
        "overloaded",
        client_ids[2],
        1,
    )
    assert {(await clients[2].receive_type("message"))["message"]["seq"] for _ in range(2)} == {
        1,
        2,
    }
    await clients[2].send(type="send", room=room.id, body="m2", client_id=client_ids[2])
    resent = await clients[2].receive_type("message")
    assert (resent["message"]["client_id"], resent["message"]["seq"]) == (client_ids[2], 3)
    assert await Message.objects.filter(room=room).acount() == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_an_outage_during_a_batch_is_answered_unavailable_to_each_sender(
    sockets, monkeypatch
):
    people, room = await members_in_a_room(3)
    clients = [(await sockets(person))[0] for person in people]
    real = services.messages_store
    down = {"calls": 0}

    def messages_store(requests):
        if down:
            down["calls"] += len(requests)
            time.sleep(0.2)
            raise OperationalError("terminating connection due to administrator command")
        return real(requests)

    monkeypatch.setattr(services, "messages_store", messages_store)
    client_ids = [new_client_id() for _ in clients]
    for index, client in enumerate(clients):
        await client.send(type="send", room=room.id, body=f"m{index}", client_id=client_ids[index])
    for index, client in enumerate(clients):
        error = await client.receive_type("error")
        assert (error["code"], error["client_id"]) == ("unavailable", client_ids[index])
    assert down.pop("calls") == 3
    assert await Message.objects.filter(room=room).acount() == 0
    for index, client in enumerate(clients):  # the clients send again, as told
        await client.send(type="send", room=room.id, body=f"m{index}", client_id=client_ids[index])
    heard = sorted([(await clients[0].receive_type("message"))["message"]["seq"] for _ in clients])
    assert heard == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_a_batch_reaches_each_room_as_one_event_with_its_messages_in_seq_order(
    sockets, slow_first_batch, monkeypatch
):
    people, first = await members_in_a_room(5)
    second = await sync_to_async(make_room)(Room.Kind.PRIVATE, *people)
    published = []
    publish = publisher.publish

    async def recorded(group, event, **kwargs):
        if event["type"] == "room.frame":
            published.append((event["room"], len(event["frames"]), event.get("seq")))
        return await publish(group, event, **kwargs)

    monkeypatch.setattr(publisher, "publish", recorded)
    clients = [(await sockets(person))[0] for person in people]
    await clients[0].send(type="send", room=first.id, body="alone", client_id=new_client_id())
    await asyncio.sleep(0.1)  # the first batch is being stored
    for index, room in enumerate([second, first, second, first]):
        await clients[index + 1].send(
            type="send", room=room.id, body=f"m{index}", client_id=new_client_id()
        )
    heard = [(await clients[0].receive_type("message"))["message"] for _ in range(5)]
    assert slow_first_batch == [1, 4]
    assert published == [(first.id, 1, 1), (second.id, 2, 2), (first.id, 2, 3)]
    assert [(m["room"], m["seq"], m["body"]) for m in heard] == [
        (first.id, 1, "alone"),
        (second.id, 1, "m0"),
        (second.id, 2, "m2"),
        (first.id, 2, "m1"),
        (first.id, 3, "m3"),
    ]
