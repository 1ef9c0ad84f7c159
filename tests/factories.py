import uuid

import factory

from accounts.models import User
from chat.models import Membership, Room

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password(PASSWORD)


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room

    kind = Room.Kind.PUBLIC
    name = factory.Sequence(lambda n: f"Room {n}")
    slug = factory.Sequence(lambda n: f"room-{n}")


def make_room(kind: str, *members, name: str | None = None) -> Room:
    """A room of `kind` whose first member owns it."""
    if kind == Room.Kind.DIRECT:
        low, high = sorted(m.id for m in members)
        room = Room.objects.create(kind=kind, name="Direct chat", direct_key=f"{low}:{high}")
    else:
        room = RoomFactory(kind=kind, **({"name": name} if name else {}))
    for index, member in enumerate(members):
        role = Membership.Role.OWNER if index == 0 and kind != Room.Kind.DIRECT else "member"
        Membership.objects.create(room=room, user=member, role=role)
    return room


def new_client_id() -> str:
    return str(uuid.uuid4())
