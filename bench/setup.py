"""Fill the bench database: users with API tokens, rooms, history; count the pages' queries.

Run in its own process with the servers' environment (DJANGO_SETTINGS_MODULE=config.settings):
python -m bench.setup OUT.json --sizes 2,10,100,500 --ramp-users 100 --pages 50 \
    --workspace-users 2000 --workspace-rooms 200"""

import argparse
import json
import os
import uuid

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--sizes", default="2,10,100,500")
    parser.add_argument("--ramp-users", type=int, default=100)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--workspace-users", type=int, default=0, help="0: no workspace")
    parser.add_argument("--workspace-rooms", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    result = {
        "rooms": [fanout_room(size, index) for index, size in enumerate(sizes)],
        "ramp": ramp_users(args.ramp_users),
        "pages": pages(args.pages),
        "workspace": workspace(args.workspace_users, args.workspace_rooms)
        if args.workspace_users
        else None,
    }
    analyze()
    with open(args.out, "w") as out:
        json.dump(result, out)


def analyze() -> None:
    """Gather the planner's statistics, as autovacuum does for a database in use: without them,
    the planner read accounts_user whole for each handshake's rooms (0.29 ms against 0.06 ms a
    query, and 1.36 against 1.05 ms of PostgreSQL's CPU per handshake)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _users(prefix: str, count: int):
    from django.contrib.auth import get_user_model

    from accounts.services import api_token_create

    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [
            user_model(username=f"{prefix}{n:05d}", email=f"{prefix}{n:05d}@bench.invalid")
            for n in range(count)
        ]
    )
    return [(user, api_token_create(user=user, name="bench")[1]) for user in users]


def _room(name: str, users):
    from chat.models import Membership, Room

    room = Room.objects.create(kind=Room.Kind.PRIVATE, name=name, slug=name, created_by=users[0])
    Membership.objects.bulk_create(
        [
            Membership(room=room, user=user, role="owner" if n == 0 else "member")
            for n, user in enumerate(users)
        ]
    )
    return room


def fanout_room(size: int, index: int) -> dict:
    """A room of `size` members, each a distinct user with one token."""
    members = _users(f"f{index}-", size)
    room = _room(f"fanout-{index}-{size}", [user for user, _ in members])
    return {"size": size, "id": room.id, "tokens": [key for _, key in members]}


def ramp_users(count: int) -> dict:
    """Users for the connection ramp, all in one idle room (the per-user cap is raised)."""
    members = _users("ramp-", max(count, 1))
    room = _room("ramp", [user for user, _ in members])
    return {"room": room.id, "tokens": [key for _, key in members]}


def workspace(users: int, rooms: int) -> dict:
    """`users` users with a token each in `rooms` rooms of Zipf sizes (bench/workspace.py)."""
    from django.db import transaction

    from bench.workspace import (
        ROOMS_PER_USER,
        SECOND_SOCKET,
        memberships,
        room_sizes,
        sockets_of_users,
    )
    from chat.models import Membership, Room

    members = memberships(users, room_sizes(users, rooms, ROOMS_PER_USER))
    with transaction.atomic():
        people = _users("w-", users)
        created = Room.objects.bulk_create(
            [
                Room(
                    kind=Room.Kind.PRIVATE,
                    name=f"workspace-{n}",
                    slug=f"workspace-{n}",
                    created_by=people[room[0]][0],
                )
                for n, room in enumerate(members)
            ]
        )
        Membership.objects.bulk_create(
            [
                Membership(room=room, user=people[user][0], role="owner" if n == 0 else "member")
                for room, users_in in zip(created, members, strict=True)
                for n, user in enumerate(users_in)
            ],
            batch_size=5000,
        )
    return {
        "rooms": [
            {"id": room.id, "members": users_in}
            for room, users_in in zip(created, members, strict=True)
        ],
        "tokens": [key for _, key in people],
        "sockets": sockets_of_users(users, SECOND_SOCKET),
    }


def _history(room, author, count: int) -> None:
    from chat.models import Message, Room

    Message.objects.bulk_create(
        [
            Message(
                room=room,
                author=author,
                seq=n,
                pos=n,
                body=f"history message {n} " * 4,
                client_id=uuid.uuid4(),
            )
            for n in range(1, count + 1)
        ]
    )
    Room.objects.filter(id=room.id).update(last_seq=count, last_pos=count)


def _reader(name: str, rooms: int, messages: int) -> dict:
    """A user in `rooms` rooms, the first with `messages` messages; a logged-in session."""
    from django.test import Client

    reader, _ = _users(f"{name}-", 1)[0]
    other, _ = _users(f"{name}-other-", 1)[0]
    first = None
    for n in range(rooms):
        room = _room(f"{name}-room-{n}", [reader, other])
        first = first or room
    _history(first, other, messages)
    client = Client()
    client.force_login(reader)
    return {
        "client": client,
        "cookie": client.cookies["sessionid"].value,
        "chat": f"/chat/r/{first.slug}/",
        "lobby": "/chat/",
    }


def _queries(client, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path, HTTP_HOST="127.0.0.1")  # the first view of a page may write once
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, HTTP_HOST="127.0.0.1")
    assert response.status_code == 200, (path, response.status_code)
    return len(captured)


def pages(count: int) -> dict:
    """The chat page and the lobby at `count` (and at 5) messages and rooms, with query counts."""
    small = _reader("pages-small", 5, 5)
    big = _reader("pages", count, count)
    return {
        "cookie": big["cookie"],
        "chat": big["chat"],
        "lobby": big["lobby"],
        "size": count,
        "queries": {
            "chat": {
                "5": _queries(small["client"], small["chat"]),
                str(count): _queries(big["client"], big["chat"]),
            },
            "lobby": {
                "5": _queries(small["client"], small["lobby"]),
                str(count): _queries(big["client"], big["lobby"]),
            },
        },
    }


if __name__ == "__main__":
    main()
