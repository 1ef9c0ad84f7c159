# Public room names become unique (case-insensitive, trimmed). Existing duplicates are renamed
# first, deterministically: the oldest room of a name keeps it, the others get " (2)", " (3)"...

import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models

NAME_MAX = 80


def rename_duplicate_public_rooms(apps, schema_editor):
    Room = apps.get_model("chat", "Room")
    rooms = list(Room.objects.filter(kind="public").order_by("id"))
    taken = set()
    for room in rooms:
        name = " ".join(room.name.split()) or "Room"
        candidate, n = name, 1
        while candidate.lower() in taken:
            n += 1
            suffix = f" ({n})"
            candidate = name[: NAME_MAX - len(suffix)].rstrip() + suffix
        taken.add(candidate.lower())
        if candidate != room.name:
            room.name = candidate
            room.save(update_fields=["name"])


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0005_event_stream'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(rename_duplicate_public_rooms, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='room',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower(django.db.models.functions.text.Trim('name')), condition=models.Q(('kind', 'public')), name='chat_room_public_name_unique'),
        ),
    ]
