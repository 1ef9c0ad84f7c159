from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length, Lower, Trim
from django.db.models.lookups import LessThanOrEqual

BIGINT_MAX = 2**63 - 1  # the largest id or seq a frame or URL may name


class Room(models.Model):
    """A conversation: a public or private room, or a direct chat between two people."""

    class Kind(models.TextChoices):
        PUBLIC = "public", "Public"
        PRIVATE = "private", "Private"
        DIRECT = "direct", "Direct"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=90, null=True, blank=True, unique=True)
    # "<smaller user id>:<larger user id>" for a direct room: one room per pair, enforced here.
    direct_key = models.CharField(max_length=41, null=True, blank=True, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)
    # The room's event stream: every change in the room (a message stored, edited or deleted, a
    # member joining or leaving) takes the next position, under the room's row lock.
    last_pos = models.PositiveBigIntegerField(default=0, editable=False)
    last_message_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="direct", direct_key__isnull=False, slug__isnull=True))
                | (Q(kind__in=["public", "private"], direct_key__isnull=True, slug__isnull=False)),
                name="chat_room_kind_keys",
            ),
            # Two public rooms never share a name, whatever its case or surrounding spaces.
            models.UniqueConstraint(
                Lower(Trim("name")),
                condition=Q(kind="public"),
                name="chat_room_public_name_unique",
            ),
        ]
        indexes = [models.Index(fields=["kind", "name"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_direct(self) -> bool:
        return self.kind == self.Kind.DIRECT


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    last_read_seq = models.PositiveBigIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="chat_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id}"


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.PositiveBigIntegerField()
    # The position of the message's latest change in the room's event stream, so that `sync`
    # replays each message once, in its current state.
    pos = models.PositiveBigIntegerField()
    body = models.TextField(max_length=4000)
    # The body rendered (Markdown subset) and sanitised at send or edit time: the only markup a
    # client inserts.
    body_html = models.TextField(blank=True, default="")
    # Members mentioned by "@username" at the time of writing, and whether "@room" was used by
    # someone allowed to notify the whole room.
    mentions = ArrayField(models.BigIntegerField(), blank=True, default=list)
    mentions_room = models.BooleanField(default=False)
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_id = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            GinIndex(SearchVector("body", config="simple"), name="chat_message_body_search"),
            models.Index(fields=["room", "pos"], name="chat_message_room_pos"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="chat_message_room_seq"),
            models.UniqueConstraint(fields=["author", "client_id"], name="chat_message_client_id"),
            # A deleted message keeps its seq (no gap) but not its text. A standing one may have
            # no text when it carries attachments (chat.services checks that it has one or both).
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=False, body="")
                | Q(LessThanOrEqual(Length("body"), 4000), deleted_at__isnull=True),
                name="chat_message_body_length",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq}"


class RoomEvent(models.Model):
    """A change in a room other than to a message, at its position in the room's stream."""

    class Kind(models.TextChoices):
        JOINED = "member.joined", "Joined"
        LEFT = "member.left", "Left"
        REMOVED = "member.removed", "Removed"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="events")
    pos = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "pos"], name="chat_roomevent_room_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}@{self.pos} {self.kind}"


class Reaction(models.Model):
    """One person's emoji on one message."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    emoji = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user", "emoji"], name="chat_reaction_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} on {self.message_id} by {self.user_id}"
