"""Private rooms made before their addresses were unguessable get a random one.

The old address (the slugified name, numbered on collision) told anyone who tried it that a room
of that name existed. Old links to private rooms stop working; members find them in their lobby.
"""

import secrets

from django.db import migrations
from django.utils.text import slugify


def private_slugs_unguessable(apps, schema_editor):
    Room = apps.get_model("chat", "Room")
    for room in Room.objects.filter(kind="private").only("id", "name"):
        # The rule of chat.services.private_slug, frozen here as migrations must be.
        room.slug = "-".join(filter(None, [slugify(room.name)[:60], secrets.token_hex(10)]))
        room.save(update_fields=["slug"])


class Migration(migrations.Migration):
    dependencies = [("chat", "0003_message_search")]

    operations = [
        migrations.RunPython(private_slugs_unguessable, migrations.RunPython.noop, elidable=True),
    ]
