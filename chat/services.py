"""Every write to chat data. Views, the API and the socket consumer call these and nothing else."""

import secrets
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from chat import ratelimit
from chat.access import is_owner, owned_private_room, room_for_member
from chat.errors import BadRequest, Conflict, Forbidden, NotFound, RateLimited, TooLong
from chat.models import Membership, Message, Room, RoomEvent
from chat.queries import direct_key, direct_partner, direct_room
from chat.serializers import message_frame, room_event_frame
from realtime import publisher

User = get_user_model()

ROOM_NAME_MAX = 80


def message_body_clean(body) -> str:
    """The body as it will be stored, or the error a client is told."""
    if not isinstance(body, str):
        raise BadRequest("The message body must be text.")
    body = body.strip()
    if not body:
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


def message_post(*, author, room_id: int, body, client_id: UUID) -> tuple[Message, bool]:
    """Store a message and publish it to the room; a resent client_id stores nothing and
    returns the stored message. Returns (message, created)."""
    message, created = message_store(author=author, room_id=room_id, body=body, client_id=client_id)
    if created:
        publisher.frame_publish(message_frame(message))
    return message, created


def message_store(*, author, room_id: int, body, client_id: UUID) -> tuple[Message, bool]:
    """message_post without the publish, for the socket consumer, which publishes the same frame
    from its event loop rather than from the database thread (both after the commit)."""
    body = message_body_clean(body)
    existing = (
        Message.objects.select_related("author").filter(author=author, client_id=client_id).first()
    )
    if existing is not None:
        # A resend is answered only to a member now: one removed since is an outsider.
        room_for_member(user=author, room_id=room_id)
        if existing.room_id != room_id:
            raise Conflict("That client_id was already used for another room.")
        return existing, False
    wait = ratelimit.take(f"post:{author.id}")
    if wait:
        raise RateLimited("You are sending messages too fast.", retry_after=round(wait, 3))
    try:
        with transaction.atomic():
            taken = _next_seq(room_id=room_id, user_id=author.id)
            if taken is None:
                raise NotFound("No such room.")
            seq, pos = taken
            message = Message.objects.create(
                room_id=room_id, author=author, body=body, client_id=client_id, seq=seq, pos=pos
            )
    except IntegrityError:
        # The same frame raced itself: the other copy was stored, answer with it.
        existing = Message.objects.filter(author=author, client_id=client_id).first()
        if existing is None or existing.room_id != room_id:
            raise
        return existing, False
    message.author = author
    return message, True


def _own_message(*, user, room_id: int, message_id: int) -> Message:
    room_for_member(user=user, room_id=room_id)
    message = (
        Message.objects.select_related("author", "room")
        .filter(id=message_id, room_id=room_id, deleted_at__isnull=True)
        .first()
    )
    if message is None:
        raise NotFound("No such message.")
    return message


@transaction.atomic
def message_edit(*, editor, room_id: int, message_id: int, body) -> Message:
    """Change the text of one's own message; every socket in the room sees the new text."""
    body = message_body_clean(body)
    message = _own_message(user=editor, room_id=room_id, message_id=message_id)
    if message.author_id != editor.id:
        raise Forbidden("Only the author may edit a message.")
    if body != message.body:
        message.body = body
        message.edited_at = timezone.now()
        message.pos = _next_pos(room_id=room_id)
        message.save(update_fields=["body", "edited_at", "pos"])
        _publish_on_commit(message_frame(message, frame_type="message.updated"))
    return message


@transaction.atomic
def message_delete(*, actor, room_id: int, message_id: int) -> Message:
    """Delete a message (its author, or the room's owner); its seq stays, its text goes."""
    message = _own_message(user=actor, room_id=room_id, message_id=message_id)
    owner = is_owner(user=actor, room_id=room_id)
    if message.author_id != actor.id and not (owner and not message.room.is_direct):
        raise Forbidden("Only the author or the room's owner may delete a message.")
    message.body = ""
    message.deleted_at = timezone.now()
    message.pos = _next_pos(room_id=room_id)
    message.save(update_fields=["body", "deleted_at", "pos"])
    _publish_on_commit(message_frame(message, frame_type="message.updated"))
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


@transaction.atomic
def room_create_public(*, creator, name: str) -> Room:
    """Create a public room (staff only); its creator joins it."""
    if not creator.is_staff:
        raise Forbidden("Only staff create public rooms.")
    name = room_name_clean(name)
    room = Room.objects.create(
        kind=Room.Kind.PUBLIC, name=name, slug=_unique_slug(name), created_by=creator
    )
    Membership.objects.create(room=room, user=creator, role=Membership.Role.OWNER)
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
    room.delete()
    transaction.on_commit(lambda: publisher.room_deleted(room_id=room_id))


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
        room.delete()
    else:
        if membership.role == Membership.Role.OWNER and heir is not None:
            heir.role = Membership.Role.OWNER
            heir.save(update_fields=["role"])
        _room_event(room_id=room_id, kind=RoomEvent.Kind.LEFT, user=user)
    transaction.on_commit(lambda: publisher.room_removed(user_id=user.id, room_id=room_id))


@transaction.atomic
def member_invite(*, actor, room_id: int, username: str) -> Membership:
    """Add a user to a private room the actor owns."""
    room = owned_private_room(actor=actor, room_id=room_id)
    invitee = User.objects.filter(username__iexact=(username or "").strip(), is_active=True).first()
    if invitee is None:
        raise NotFound("No such user.")
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
    transaction.on_commit(lambda: publisher.room_removed(user_id=user_id, room_id=room.id))


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


def room_mark_read(*, user, room_id: int, seq: int) -> None:
    """Move the user's read marker forward (never back)."""
    Membership.objects.filter(
        room_id=room_id, user=user, last_read_seq__lt=seq, room__last_seq__gte=seq
    ).update(last_read_seq=seq)
