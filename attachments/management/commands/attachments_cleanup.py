from django.core.management.base import BaseCommand

from attachments.services import (
    UNPOSTED_MAX_AGE,
    attachment_files_orphaned_delete,
    attachments_unposted_delete,
)


class Command(BaseCommand):
    help = (
        f"Delete uploads that no message carried within {UNPOSTED_MAX_AGE}, and stored files "
        "that no upload names (run it hourly)."
    )

    def handle(self, *args, **options):
        unposted = attachments_unposted_delete()
        orphaned = attachment_files_orphaned_delete()
        self.stdout.write(f"{unposted} unposted upload(s) and {orphaned} orphaned file(s) deleted.")
