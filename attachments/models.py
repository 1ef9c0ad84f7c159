from django.conf import settings
from django.core.files.storage import storages
from django.db import models
from django.db.models import Q


def attachment_storage():
    """The private storage of shared files (STORAGES["attachments"]), never served directly."""
    return storages["attachments"]


class Attachment(models.Model):
    """A file shared in a room: uploaded first (message null), then posted with one message."""

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        FILE = "file", "File"

    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments"
    )
    room = models.ForeignKey("chat.Room", on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        "chat.Message",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="attachments",
    )
    file = models.FileField(storage=attachment_storage, max_length=200)
    thumbnail = models.FileField(storage=attachment_storage, max_length=200, blank=True)
    # As the uploader named it, cleaned (no path, no control characters, capped): display only.
    original_name = models.CharField(max_length=200)
    # What the server found the bytes to be, never what the client said.
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=5, choices=Kind.choices)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]  # a message shows its files in the order they were uploaded
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(message__isnull=True),
                name="attachment_unposted",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.original_name}"


class UploadDay(models.Model):
    """The bytes a user uploaded on one (UTC) day, for the daily limit."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="attachment_upload_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.day}: {self.bytes}"
