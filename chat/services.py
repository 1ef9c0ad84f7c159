"""Every write to chat data. Views, the API and the socket consumer call these and nothing else."""

import contextlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.text import slugify

from accounts.services import user_last_seen_set
from attachments import services as attachment_services
from chat import presence, ratelimit
from chat.access import is_owner, owned_private_room, receipts_shown, room_for_member
from chat.emoji_data import reaction_emoji
from chat.errors import (
    BadRequest,
    ChatError,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    TooLong,
)
from chat.formatting import MENTION, ROOM_MENTION, Mentions, render
from chat.models import Membership, Message, Reaction, Room, RoomEvent
from chat.queries import (
    attachments_prefetch,
    direct_key,
    direct_partner,
    direct_room,
    mention_candidates,
    messages_loaded,
    messages_shown,
    presence_rooms,
)
from chat.serializers import message_frame, presence_dict, public_room_dict, room_event_frame
from postgres import prepared_cursor
from realtime import publisher

User = get_user_model()

ROOM_NAME_MAX = 80


def message_body_clean(body, *, required: bool = True) -> str:
    """The body as it will be stored, or the error a client is told; it may be empty only when
    not `required` (a message that carries attachments)."""
    if body is None and not required:
        return ""
    if not isinstance(body, str):
        raise BadRequest("The message body must be text.")
    body = body.strip()
    if not body and required:
        raise BadRequest("The message is empty.")
    if len(body) > settings.CHAT_MESSAGE_MAX_LENGTH:
        raise TooLong(f"A message is at most {settings.CHAT_MESSAGE_MAX_LENGTH} characters.")
    if "\x00" in body or not _encodable(body):
        raise BadRequest("The message contains characters that are not valid text.")
    return body


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _next_seq(*, room_id: int, user_id: int) -> tuple[int, int] | None:
    """Lock the room row and take its next message seq and stream position, only if the user is
    an active member now."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE chat_room
            SET last_seq = last_seq + 1, last_pos = last_pos + 1, last_message_at = now()
            WHERE id = %s
              AND EXISTS (SELECT 1 FROM chat_membership WHERE room_id = %s AND user_id = %s)
              AND EXISTS (SELECT 1 FROM accounts_user WHERE id = %s AND is_active)
            RETURNING last_seq, last_pos
            """,
            [room_id, room_id, user_id, user_id],
        )
        return cursor.fetchone()


def _next_pos(*, room_id: int) -> int:
    """Lock the room row and take the next position in its event stream."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE chat_room SET last_pos = last_pos + 1 WHERE id = %s RETURNING last_pos",
            [room_id],
        )
        return cursor.fetchone()[0]


def _publish_on_commit(frame: dict) -> None:
    """Every change in a room goes out this one way: after its transaction commits."""
    transaction.on_commit(lambda: publisher.frame_publish(frame))


def _room_event(*, room_id: int, kind: str, user) -> None:
    """Record a member joining or leaving at the room's next position, published on commit."""
    event = RoomEvent.objects.create(
        room_id=room_id, pos=_next_pos(room_id=room_id), kind=kind, user=user
    )
    _publish_on_commit(room_event_frame(event))


def message_post(
    *, author, room_id: int, body, client_id: UUID, attachments=None, reply_to: int | None = None
) -> tuple[Message, bool]:
    """Store a message (with the author's uploads named by `attachments`, replying to `reply_to`)
    and publish it to the room; a resent client_id stores nothing and returns the stored message.
    Returns (message, created)."""
    message, created = message_store(
        author=author,
        room_id=room_id,
        body=body,
        client_id=client_id,
        attachments=attachments,
        reply_to=reply_to,
    )
    if created:
        publisher.frame_publish(message_frame(message))
    return message, created


@dataclass
class _Draft:
    """A send checked, authorised as far as it can be before its transaction, and rendered."""

    author: User
    room_id: int
    body: str
    body_html: str
    mentions: Mentions
    reply_to: Message | None
    client_id: UUID
    attachment_ids: list[int]

    def message(self, *, seq: int, pos: int) -> Message:
        return Message(
            room_id=self.room_id,
            author=self.author,
            body=self.body,
            body_html=self.body_html,
            mentions=self.mentions.user_ids,
            mentions_room=self.mentions.room,
            reply_to=self.reply_to,
            client_id=self.client_id,
            seq=seq,
            pos=pos,
        )


def _message_draft(
    *, author, room_id: int, body, client_id: UUID, attachments=None, reply_to: int | None = None
) -> _Draft:
    attachment_ids = attachment_services.attachment_ids_clean(attachments)
    body = message_body_clean(body, required=not attachment_ids)
    original = _reply_target(user=author, room_id=room_id, message_id=reply_to)
    wait = ratelimit.take(f"post:{author.id}")
    if wait:
        raise RateLimited("You are sending messages too fast.", retry_after=round(wait, 3))
    mentions = _mentions(author=author, room_id=room_id, body=body)
    return _Draft(
        author=author,
        room_id=room_id,
        body=body,
        body_html=render(body, mentions),
        mentions=mentions,
        reply_to=original,
        client_id=client_id,
        attachment_ids=attachment_ids,
    )


def message_store(
    *, author, room_id: int, body, client_id: UUID, attachments=None, reply_to: int | None = None
) -> tuple[Message, bool]:
    """message_post without the publish (the consumer publishes from its event loop, through
    messages_store): (message, created), after the commit."""
    request = {
        "author": author,
        "room_id": room_id,
        "body": body,
        "client_id": client_id,
        "attachments": attachments,
        "reply_to": reply_to,
    }
    (outcome,) = messages_store([request])
    if isinstance(outcome, ChatError):
        raise outcome
    return outcome


def messages_store(requests: list[dict]) -> list[tuple[Message, bool] | ChatError]:
    """message_store for each of several sends (a process's sockets' sends that arrived while
    the last ones were being stored: chat/message_writer.py), in their order: its (message,
    created), or the ChatError its sender is told. Those without attachments are stored by one
    statement, which commits on its own (a single round trip, however many). A resend among
    them fails it whole; then each is stored on its own, as are sends with attachments. Any
    other error (an outage) is raised for all of them."""
    outcomes: list = [None] * len(requests)
    drafts: dict[int, _Draft] = {}
    for index, request in enumerate(requests):
        try:
            drafts[index] = _message_draft(**request)
        except ChatError as error:
            outcomes[index] = error
    plain = {index: draft for index, draft in drafts.items() if not draft.attachment_ids}
    if plain:
        try:
            with _savepoint_if_in_transaction():
                outcomes_plain = _drafts_insert(plain)
        except IntegrityError:
            outcomes_plain = {}  # a resend among them: each on its own, below
        for index, outcome in outcomes_plain.items():
            outcomes[index] = outcome
    for index, draft in drafts.items():
        if outcomes[index] is None:
            try:
                outcomes[index] = _draft_store(draft)
            except ChatError as error:
                outcomes[index] = error
    return outcomes


def _draft_store(draft: _Draft) -> tuple[Message, bool]:
    """Store one draft in a transaction of its own."""
    try:
        with transaction.atomic():
            taken = _next_seq(room_id=draft.room_id, user_id=draft.author.id)
            if taken is None:
                raise NotFound("No such room.")
            seq, pos = taken
            message = draft.message(seq=seq, pos=pos)
            message.save(force_insert=True)
            attachment_services.attachments_post(
                author=draft.author,
                room_id=draft.room_id,
                attachment_ids=draft.attachment_ids,
                message=message,
            )
    except IntegrityError:
        # A resend (its client_id is taken): no lookup before the insert, which is the rare case.
        existing = _resent(author=draft.author, room_id=draft.room_id, client_id=draft.client_id)
        if existing is None:
            raise
        return existing, False
    return _as_sent(message, draft), True


# Sends' rows inserted by one statement: the authors' memberships checked, the rooms' rows locked
# in the order of their ids (two processes' batches never wait for each other's rooms in a
# cycle) and their seqs and stream positions taken, the rows numbered in the order the sends
# came, inserted and returned. Sends whose author is no active member of an existing room are
# not among the rows returned.
_MESSAGES_INSERT = """
WITH sent AS (
    SELECT * FROM jsonb_to_recordset(%s::jsonb) AS s(
        n int, room_id bigint, author_id bigint, body text, body_html text, mentions bigint[],
        mentions_room bool, reply_to_id bigint, client_id uuid
    )
),
allowed AS (
    SELECT s.* FROM sent s
    WHERE EXISTS (
        SELECT 1 FROM chat_membership m WHERE m.room_id = s.room_id AND m.user_id = s.author_id
    )
    AND EXISTS (SELECT 1 FROM accounts_user u WHERE u.id = s.author_id AND u.is_active)
),
counts AS (SELECT room_id, count(*) AS taken FROM allowed GROUP BY room_id),
locked AS MATERIALIZED (
    SELECT id FROM chat_room WHERE id IN (SELECT room_id FROM counts) ORDER BY id FOR UPDATE
),
rooms AS (
    UPDATE chat_room r
    SET last_seq = r.last_seq + c.taken, last_pos = r.last_pos + c.taken,
        last_message_at = now()
    FROM locked l JOIN counts c ON c.room_id = l.id
    WHERE r.id = l.id
    RETURNING r.id, r.last_seq - c.taken AS seq_before, r.last_pos - c.taken AS pos_before
),
numbered AS (
    SELECT a.*, row_number() OVER (PARTITION BY a.room_id ORDER BY a.n) AS k,
           r.seq_before, r.pos_before
    FROM allowed a JOIN rooms r ON r.id = a.room_id
),
inserted AS (
    INSERT INTO chat_message (
        room_id, author_id, seq, pos, body, body_html, mentions, mentions_room, reply_to_id,
        client_id, created_at
    )
    SELECT room_id, author_id, seq_before + k, pos_before + k, body, body_html,
           mentions, mentions_room, reply_to_id, client_id, now()
    FROM numbered
    RETURNING id, room_id, seq, pos, created_at
)
SELECT n.n, i.id, i.seq, i.pos, i.created_at
FROM inserted i JOIN numbered n ON n.room_id = i.room_id AND n.seq_before + n.k = i.seq
"""


def _savepoint_if_in_transaction():
    """A savepoint within a transaction, so that a failed statement leaves it usable; nothing
    outside one, where a single statement commits on its own."""
    return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()


def _drafts_insert(drafts: dict[int, _Draft]) -> dict[int, tuple[Message, bool] | ChatError]:
    """Store drafts without attachments by one statement (_MESSAGES_INSERT): each its (message,
    True), or NotFound when its author may not post in its room."""
    # The sends as one JSON document: one string for the driver to quote, however many.
    sent = json.dumps(
        [
            {
                "n": index,
                "room_id": draft.room_id,
                "author_id": draft.author.id,
                "body": draft.body,
                "body_html": draft.body_html,
                "mentions": draft.mentions.user_ids,
                "mentions_room": draft.mentions.room,
                "reply_to_id": draft.reply_to.id if draft.reply_to else None,
                "client_id": str(draft.client_id),
            }
            for index, draft in drafts.items()
        ]
    )
    # Prepared: planning this statement cost PostgreSQL more CPU than running it.
    with prepared_cursor() as cursor:
        cursor.execute(_MESSAGES_INSERT, [sent])
        rows = cursor.fetchall()
    stored = {row[0]: row[1:] for row in rows}
    outcomes: dict[int, tuple[Message, bool] | ChatError] = {}
    for index, draft in drafts.items():
        row = stored.get(index)
        if row is None:
            outcomes[index] = NotFound("No such room.")
            continue
        id_, seq, pos, created_at = row
        message = draft.message(seq=seq, pos=pos)
        message.id, message.created_at = id_, created_at
        outcomes[index] = (_as_sent(message, draft), True)
    return outcomes


def _as_sent(message: Message, draft: _Draft) -> Message:
    """A new message with all its frame shows: serialised on the event loop, where no query
    may run. It has no reactions yet: say so, rather than ask the database."""
    message.author = draft.author
    message.reaction_rows = []
    if draft.attachment_ids:
        prefetch_related_objects([message], attachments_prefetch())
    else:
        message.attachment_rows = []
    return message


def _resent(*, author, room_id: int, client_id: UUID) -> Message | None:
    """The message first stored with this client_id (loaded with all it serialises), answered
    only to a member of its room: one removed since is an outsider."""
    existing = messages_shown().filter(author=author, client_id=client_id).first()
    if existing is None:
        return None
    messages_loaded([existing])
    room_for_member(user=author, room_id=room_id)
    if existing.room_id != room_id:
        raise Conflict("That client_id was already used for another room.")
    return existing


def _reply_target(*, user, room_id: int, message_id: int | None) -> Message | None:
    """The message being replied to: one that stands, in the same room, which the user belongs
    to; NotFound otherwise (a message elsewhere is not told apart from none)."""
    if message_id is None:
        return None
    room_for_member(user=user, room_id=room_id)
    original = (
        Message.objects.select_related("author")
        .filter(id=message_id, room_id=room_id, deleted_at__isnull=True)
        .first()
    )
    if original is None:
        raise NotFound("No such message to reply to.")
    return original


def _mentions(*, author, room_id: int, body: str) -> Mentions:
    """Whom `body` by `author` in the room may mention: the other members it names, and @room
    for the owner of a private room or staff in a public one."""
    names = {name.lower() for name in MENTION.findall(body)}
    if not names:
        return Mentions(members={}, room_allowed=False)
    kind, members = mention_candidates(room_id=room_id, names=names)
    members.pop(author.username.lower(), None)
    if ROOM_MENTION not in names:
        room_allowed = False
    elif kind == Room.Kind.PRIVATE:
        room_allowed = is_owner(user=author, room_id=room_id)
    else:
        room_allowed = kind == Room.Kind.PUBLIC and author.is_staff
    return Mentions(members=members, room_allowed=room_allowed)


def _live_message(*, user, room_id: int, message_id: int, lock: bool = False) -> Message:
    """A message that stands in a room the user belongs to (locked for the transaction, if
    asked); NotFound otherwise."""
    room_for_member(user=user, room_id=room_id)
    messages = Message.objects.select_related("author", "room", "reply_to__author")
    if lock:
        messages = messages.select_for_update(of=("self",))
    message = messages.filter(id=message_id, room_id=room_id, deleted_at__isnull=True).first()
    if message is None:
        raise NotFound("No such message.")
    return message


def _message_changed(message: Message, *, fields: list[str]) -> None:
    """Move a changed message to the room's next position and publish it after the commit."""
    message.pos = _next_pos(room_id=message.room_id)
    message.save(update_fields=[*fields, "pos"])
    _publish_on_commit(message_frame(message, frame_type="message.updated"))


@transaction.atomic
def message_edit(*, editor, room_id: int, message_id: int, body) -> Message:
    """Change the text of one's own message; every socket in the room sees the new text."""
    body = message_body_clean(body)
    message = _live_message(user=editor, room_id=room_id, message_id=message_id)
    if message.author_id != editor.id:
        raise Forbidden("Only the author may edit a message.")
    if body != message.body:
        mentions = _mentions(author=editor, room_id=room_id, body=body)
        message.body = body
        message.body_html = render(body, mentions)
        message.mentions = mentions.user_ids
        message.mentions_room = mentions.room
        message.edited_at = timezone.now()
        _message_changed(
            message, fields=["body", "body_html", "mentions", "mentions_room", "edited_at"]
        )
    return message


@transaction.atomic
def message_delete(*, actor, room_id: int, message_id: int) -> Message:
    """Delete a message (its author, or the room's owner); its seq stays, its text goes."""
    message = _live_message(user=actor, room_id=room_id, message_id=message_id)
    owner = is_owner(user=actor, room_id=room_id)
    if message.author_id != actor.id and not (owner and not message.room.is_direct):
        raise Forbidden("Only the author or the room's owner may delete a message.")
    attachment_services.message_attachments_delete(message=message)
    # Nothing of it stays: text, markup, mentions (they stop counting) and reactions.
    message.body = message.body_html = ""
    message.mentions = []
    message.mentions_room = False
    message.deleted_at = timezone.now()
    message.reactions.all().delete()
    _message_changed(
        message, fields=["body", "body_html", "mentions", "mentions_room", "deleted_at"]
    )
    return message


def reaction_emoji_clean(value) -> str:
    """The emoji as stored, or the error a client is told."""
    if not isinstance(value, str) or value not in reaction_emoji():
        raise BadRequest("'emoji' must be one emoji (fully qualified, as Unicode lists it).")
    return value


@transaction.atomic
def reaction_add(*, user, room_id: int, message_id: int, emoji) -> Message:
    """Put an emoji on a message (idempotent), within the per-person limit; the room sees the
    message's new reactions."""
    emoji = reaction_emoji_clean(emoji)
    # The message's row lock serialises one person's reactions, so the limit holds.
    message = _live_message(user=user, room_id=room_id, message_id=message_id, lock=True)
    mine = set(message.reactions.filter(user=user).values_list("emoji", flat=True))
    if emoji in mine:
        return message
    if len(mine) >= settings.CHAT_REACTIONS_PER_MESSAGE:
        raise Forbidden(
            f"At most {settings.CHAT_REACTIONS_PER_MESSAGE} different reactions per message."
        )
    Reaction.objects.create(message=message, user=user, emoji=emoji)
    _message_changed(message, fields=[])
    return message


@transaction.atomic
def reaction_remove(*, user, room_id: int, message_id: int, emoji) -> Message:
    """Take one's emoji off a message (idempotent); the room sees the message's reactions."""
    emoji = reaction_emoji_clean(emoji)
    message = _live_message(user=user, room_id=room_id, message_id=message_id, lock=True)
    deleted, _ = message.reactions.filter(user=user, emoji=emoji).delete()
    if deleted:
        _message_changed(message, fields=[])
    return message


def _unique_slug(name: str) -> str:
    base = slugify(name)[:80] or "room"
    slug, n = base, 1
    while Room.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def private_slug(name: str) -> str:
    """A private room's address: its name for the reader, and 80 random bits so that the address
    can neither be guessed nor reveal (by a number) that a room of that name exists."""
    return "-".join(filter(None, [slugify(name)[:60], secrets.token_hex(10)]))


def room_name_clean(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("A room needs a name.")
    name = " ".join(name.split())
    if len(name) > ROOM_NAME_MAX:
        raise TooLong(f"A room name is at most {ROOM_NAME_MAX} characters.")
    return name


def public_room_name_clean(name) -> str:
    """The name a new public room would get, or why it cannot: public names are unique,
    whatever their case (the database enforces it too)."""
    name = room_name_clean(name)
    if Room.objects.filter(kind=Room.Kind.PUBLIC, name__iexact=name).exists():
        raise Conflict(f"A public room named {name} already exists.")
    return name


@transaction.atomic
def room_create_public(*, creator, name: str) -> Room:
    """Create a public room (staff only); its creator joins it."""
    if not creator.is_staff:
        raise Forbidden("Only staff create public rooms.")
    name = public_room_name_clean(name)
    try:
        with transaction.atomic():
            room = Room.objects.create(
                kind=Room.Kind.PUBLIC, name=name, slug=_unique_slug(name), created_by=creator
            )
    except IntegrityError:
        # Another request created a room of that name (or slug) since the check: say which.
        public_room_name_clean(name)
        raise
    Membership.objects.create(room=room, user=creator, role=Membership.Role.OWNER)
    # Every signed-in socket hears of it, so that open pages offer it without a reload.
    frame = {"type": "public_room.added", "room": public_room_dict(room)}
    transaction.on_commit(lambda: publisher.frame_to_group(publisher.EVERYONE_GROUP, frame))
    return room


@transaction.atomic
def room_create_private(*, owner, name: str) -> Room:
    """Create a private room owned by `owner`."""
    name = room_name_clean(name)
    room = Room.objects.create(
        kind=Room.Kind.PRIVATE, name=name, slug=private_slug(name), created_by=owner
    )
    Membership.objects.create(room=room, user=owner, role=Membership.Role.OWNER)
    return room


@transaction.atomic
def room_delete(*, actor, room_id: int) -> None:
    """Delete a public room (staff) or a private room (its owner)."""
    room = Room.objects.filter(id=room_id).first()
    if room is None or room.is_direct:
        raise NotFound("No such room.")
    if room.kind == Room.Kind.PUBLIC:
        if not actor.is_staff:
            raise Forbidden("Only staff delete public rooms.")
    elif not is_owner(user=actor, room_id=room.id):
        raise NotFound("No such room.")
    attachment_services.room_attachments_delete(room_id=room.id)
    kind = room.kind
    room.delete()
    transaction.on_commit(lambda: publisher.room_deleted(room_id=room_id))
    if kind == Room.Kind.PUBLIC:
        frame = {"type": "public_room.removed", "room": room_id}
        transaction.on_commit(lambda: publisher.frame_to_group(publisher.EVERYONE_GROUP, frame))


@transaction.atomic
def room_join_public(*, user, room_id: int) -> Room:
    """Join a public room (idempotent)."""
    room = Room.objects.filter(id=room_id, kind=Room.Kind.PUBLIC).first()
    if room is None or not user.is_active:
        raise NotFound("No such room.")
    _membership_add(room=room, user=user)
    return room


def _membership_add(*, room: Room, user) -> Membership:
    """Make `user` a member (idempotent); their open sockets subscribe once it is committed."""
    membership, created = Membership.objects.get_or_create(room=room, user=user)
    if created:
        _room_event(room_id=room.id, kind=RoomEvent.Kind.JOINED, user=user)
        transaction.on_commit(lambda: publisher.room_added(user_id=user.id, room_id=room.id))
    return membership


@transaction.atomic
def room_leave(*, user, room_id: int) -> None:
    """Leave a public or private room; an owner leaving hands the room to the longest member,
    and the last one out of a private room deletes it."""
    room = room_for_member(user=user, room_id=room_id)
    if room.is_direct:
        raise Forbidden("You cannot leave a direct chat.")
    membership = Membership.objects.select_for_update().get(room=room, user=user)
    membership.delete()
    heir = Membership.objects.filter(room=room).order_by("joined_at", "id").first()
    if heir is None and room.kind == Room.Kind.PRIVATE:
        attachment_services.room_attachments_delete(room_id=room.id)
        room.delete()
    else:
        if membership.role == Membership.Role.OWNER and heir is not None:
            heir.role = Membership.Role.OWNER
            heir.save(update_fields=["role"])
        _room_event(room_id=room_id, kind=RoomEvent.Kind.LEFT, user=user)
    transaction.on_commit(
        lambda: publisher.room_removed(user_id=user.id, room_id=room_id, reason="left")
    )


@transaction.atomic
def member_invite(*, actor, room_id: int, username: str) -> Membership:
    """Add a user to a private room the actor owns."""
    room = owned_private_room(actor=actor, room_id=room_id)
    invitee = User.objects.filter(username__iexact=(username or "").strip(), is_active=True).first()
    if invitee is None:
        raise NotFound("No such user.")
    if invitee.id == actor.id:
        raise BadRequest("You are already in this room: invite someone else.")
    if Membership.objects.filter(room=room, user=invitee).exists():
        raise Conflict(f"{invitee.username} is already a member of this room.")
    return _membership_add(room=room, user=invitee)


@transaction.atomic
def member_remove(*, actor, room_id: int, user_id: int) -> None:
    """Remove a member from a private room the actor owns; their open sockets stop at once."""
    room = owned_private_room(actor=actor, room_id=room_id)
    if user_id == actor.id:
        raise BadRequest("Leave the room instead of removing yourself.")
    deleted, _ = Membership.objects.filter(room=room, user_id=user_id).delete()
    if not deleted:
        raise NotFound("That user is not a member.")
    _room_event(room_id=room.id, kind=RoomEvent.Kind.REMOVED, user=User.objects.get(id=user_id))
    transaction.on_commit(
        lambda: publisher.room_removed(user_id=user_id, room_id=room.id, reason="removed")
    )


def direct_room_open(*, user, other_username: str) -> Room:
    """The one direct room between `user` and another active user, created on first use."""
    other = direct_partner(user=user, username=other_username)
    room = direct_room(user=user, other=other)
    if room is not None:
        return room
    key = direct_key(user=user, other=other)
    try:
        with transaction.atomic():
            room = Room.objects.create(
                kind=Room.Kind.DIRECT, name="Direct chat", direct_key=key, created_by=user
            )
            Membership.objects.bulk_create(
                [Membership(room=room, user=user), Membership(room=room, user=other)]
            )
    except IntegrityError:
        return Room.objects.get(direct_key=key)
    for uid in (user.id, other.id):
        publisher.room_added(user_id=uid, room_id=room.id)
    return room


@transaction.atomic
def room_mark_read(*, user, room_id: int, seq: int) -> None:
    """Move the user's read marker forward (never back); the user's other sockets are told, so
    that what was read in one tab stops counting as unread in the others, and where receipts are
    shown the room is told too (a `receipt`)."""
    moved = Membership.objects.filter(
        room_id=room_id, user=user, last_read_seq__lt=seq, room__last_seq__gte=seq
    ).update(last_read_seq=seq)
    if moved:
        frame = {"type": "read", "room": room_id, "seq": seq}
        group = publisher.user_group(user.id)
        transaction.on_commit(lambda: publisher.frame_to_group(group, frame))
    if moved and receipts_shown(user=user, room_id=room_id):
        receipt = {"type": "receipt", "room": room_id, "user": user.id, "seq": seq}
        transaction.on_commit(
            lambda: publisher.room_notice(
                room_id=room_id, event_type="chat.receipt", user_id=user.id, frame=receipt
            )
        )


def presence_refresh(*, user_id: int, last_seen=None) -> str:
    """Work out the user's presence now; when it changed, record when they were last seen (if
    they went offline: now, or `last_seen`) and tell the rooms that watch it live. Returns it."""
    user = User.objects.filter(id=user_id).first()
    hidden = user is None or _presence_hidden(user)
    before, status = presence.status_refresh(user_id=user_id, hidden=hidden)
    if before == status or user is None:
        return status
    if status == presence.OFFLINE and not hidden:
        user.last_seen = last_seen or timezone.now()
        user_last_seen_set(user_id=user_id, at=user.last_seen)
    presence_tell(user=user, status=status)
    return status


def _presence_hidden(user: User) -> bool:
    return not user.show_presence or not user.is_active


def presence_socket_open(*, user: User, socket_id: str) -> tuple[bool, str | None]:
    """Count a new socket of the user (just loaded): (False, None) when they have too many open;
    else (True, their new status when this socket changed it, for presence_tell, or None)."""
    told = presence.socket_open(user_id=user.id, socket_id=socket_id, hidden=_presence_hidden(user))
    if told is None:
        return False, None
    before, status = told
    return True, (status if status != before else None)


def presence_tell(*, user: User, status: str) -> None:
    """Tell the rooms that watch the user's presence live that it changed to `status`."""
    frame = {"type": "presence", "users": [presence_dict(user, status=status)]}
    for room_id in presence_rooms(user_id=user.id):
        publisher.room_notice(
            room_id=room_id, event_type="chat.presence", user_id=user.id, frame=frame
        )


def presence_activity(*, user_id: int, socket_id: str, active: bool) -> str:
    """The person at this socket is active (input lately) or idle; their presence now."""
    presence.socket_activity(user_id=user_id, socket_id=socket_id, active=active)
    return presence_refresh(user_id=user_id)


def presence_reap() -> int:
    """Tell the rooms of users whose sockets all expired (their process died) that they went
    offline, when their last socket was last renewed; how many were found."""
    expired = presence.expired_users()
    for user_id, expired_at in expired.items():
        seen = datetime.fromtimestamp(expired_at - settings.CHAT_SOCKET_TTL, tz=UTC)
        presence_refresh(user_id=user_id, last_seen=seen)
    return len(expired)
