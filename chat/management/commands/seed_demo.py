"""Demo data for `make run`: users alice, bob, carol and admin, public rooms General and Random."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from chat import services
from chat.models import Room

DEMO_PASSWORD = "parley-demo"  # noqa: S105 (documented in the README; demo accounts only)
DEMO_USERS = [
    ("admin", "Ada", "Admin", True),
    ("alice", "Alice", "Andersen", False),
    ("bob", "Bob", "Brown", False),
    ("carol", "Carol", "Castillo", False),
]
PUBLIC_ROOMS = ["General", "Random"]


class Command(BaseCommand):
    help = "Create the demo users and public rooms (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        users = {}
        for username, first, last, staff in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "email": f"{username}@example.com",
                    "first_name": first,
                    "last_name": last,
                    "is_staff": staff,
                    "is_superuser": staff,
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            users[username] = user
        for name in PUBLIC_ROOMS:
            room = Room.objects.filter(kind=Room.Kind.PUBLIC, name__iexact=name).first()
            if room is None:
                room = services.room_create_public(creator=users["admin"], name=name)
            for user in users.values():
                services.room_join_public(user=user, room_id=room.id)
        self.stdout.write("Demo data ready.")
