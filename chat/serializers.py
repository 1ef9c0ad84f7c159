"""The JSON shapes of rooms and messages, shared by the socket, the API and the pages."""

from collections.abc import Iterable
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.urls import get_script_prefix, reverse
from django.utils import timezone

from accounts.services import time_zone_valid
from attachments.serializers import attachment_dict
from chat.models import Message, Room, RoomEvent


def author_dict(user) -> dict:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "avatar_url": avatar_url(user),
    }


def avatar_url(user) -> str:
    if user.avatar:
        return user.avatar.url
    return address("accounts:initials_avatar", user.username)


def address(name: str, arg: str) -> str:
    """reverse(name, args=[arg]), remembered: a reverse() costs 16 µs, and a sidebar of 50 rooms
    asked for 50 addresses a page. An address depends on the name, the argument and the script
    prefix only (the URLconf is fixed)."""
    return _address(name, arg, get_script_prefix())


@lru_cache(maxsize=10_000)
def _address(name: str, arg: str, script_prefix: str) -> str:
    return reverse(name, args=[arg])


REPLY_EXCERPT_LENGTH = 140


def message_dict(message: Message, *, authors: dict[int, dict] | None = None) -> dict:
    """A message; its author's dict taken from (or added to) `authors`, by id, if given."""
    if authors is None:
        author = author_dict(message.author)
    else:
        author = authors.get(message.author_id) or author_dict(message.author)
        authors[message.author_id] = author
    return {
        "id": message.id,
        "room": message.room_id,
        "seq": message.seq,
        "author": author,
        "body": message.body,
        "body_html": message.body_html,
        "mentions": message.mentions,
        "mentions_room": message.mentions_room,
        "reply_to": reply_dict(message.reply_to) if message.reply_to_id else None,
        "reactions": reactions_list(message),
        "created_at": message.created_at.isoformat(),
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
        "deleted": message.deleted_at is not None,
        "client_id": str(message.client_id),
        "attachments": [attachment_dict(a) for a in attachments_list(message)],
    }


def message_dicts(messages: Iterable[Message]) -> list[dict]:
    """A page of messages, each author serialised once: a page has few authors (a third of the
    time of serialising 50 messages)."""
    authors: dict[int, dict] = {}
    return [message_dict(message, authors=authors) for message in messages]


def reply_dict(original: Message) -> dict:
    """What a reply shows of the message it answers: a plain-text excerpt (empty once that
    message is deleted)."""
    excerpt = " ".join(original.body.split())
    if len(excerpt) > REPLY_EXCERPT_LENGTH:
        excerpt = excerpt[: REPLY_EXCERPT_LENGTH - 1] + "…"
    return {
        "id": original.id,
        "seq": original.seq,
        "author": {"id": original.author.id, "display_name": original.author.display_name},
        "excerpt": excerpt,
        "deleted": original.deleted_at is not None,
    }


def attachments_list(message: Message):
    """Loaded beforehand by queries.messages_shown (or known empty for a new message), else here."""
    attachments = getattr(message, "attachment_rows", None)
    return message.attachments.all() if attachments is None else attachments


def reactions_list(message: Message) -> list[dict]:
    """The message's reactions by emoji, in the order each emoji was first used, with who."""
    # Loaded beforehand by queries.messages_shown (or known empty for a new message), else here.
    reactions = getattr(message, "reaction_rows", None)
    if reactions is None:
        reactions = message.reactions.select_related("user").order_by("id")
    grouped: dict[str, list[dict]] = {}
    for reaction in reactions:
        user = reaction.user
        grouped.setdefault(reaction.emoji, []).append(
            {"id": user.id, "display_name": user.display_name}
        )
    return [{"emoji": e, "count": len(users), "users": users} for e, users in grouped.items()]


def member_dict(membership) -> dict:
    """A member of a room, with their role in it."""
    return {**author_dict(membership.user), "role": membership.role}


def message_frame(message: Message, *, frame_type: str = "message") -> dict:
    """A message's change as a frame of the room's event stream."""
    return {
        "type": frame_type,
        "room": message.room_id,
        "pos": message.pos,
        "message": message_dict(message),
    }


def room_event_frame(event: RoomEvent) -> dict:
    """A member joining or leaving, as a frame of the room's event stream."""
    return {
        "type": event.kind,
        "room": event.room_id,
        "pos": event.pos,
        "user": author_dict(event.user),
    }


PREVIEW_LENGTH = 120


def room_url(room: Room, *, partner=None) -> str:
    """The room's page: /chat/r/<slug>/, or /chat/dm/<partner's username>/ for a direct chat."""
    if room.is_direct:
        return address("chat:direct", partner.username) if partner else ""
    return address("chat:room", room.slug)


def preview_dict(message: Message | None) -> dict | None:
    """The latest message that still stands, shortened, as a room's summary shows it."""
    if message is None:
        return None
    body = message.body
    if len(body) > PREVIEW_LENGTH:
        body = body[: PREVIEW_LENGTH - 1] + "…"
    return {
        "seq": message.seq,
        "author": {
            "id": message.author.id,
            "username": message.author.username,
            "display_name": message.author.display_name,
        },
        "body": body,
        "created_at": message.created_at.isoformat(),
    }


def public_room_dict(room: Room) -> dict:
    """A public room as offered to someone who has not joined it."""
    return {
        "id": room.id,
        "kind": room.kind,
        "name": room.name,
        "slug": room.slug,
        "url": room_url(room),
    }


def room_dict(room: Room) -> dict:
    """A room of the user's, with what a list of chats shows (from queries.rooms_for_user)."""
    partner = getattr(room, "partner", None)
    return {
        "id": room.id,
        "kind": room.kind,
        "name": room.title,
        "slug": room.slug,
        "url": room_url(room, partner=partner),
        "last_seq": room.last_seq,
        "last_pos": room.last_pos,
        # Unread messages that mention the user or the whole room (rooms_for_user counts them).
        "mentions": room.mentions,
        "last_message_at": room.last_message_at.isoformat() if room.last_message_at else None,
        "last_read_seq": room.last_read_seq,
        "unread": room.unread,
        "role": room.role,
        "preview": preview_dict(room.preview),
        "partner": author_dict(partner) if partner else None,
        "avatar_url": avatar_url(partner) if partner else None,
    }


def presence_dict(user, *, status: str) -> dict:
    """A person's presence as others see it: one who hides it reads as offline, never seen."""
    if not user.show_presence or not user.is_active:
        return {"id": user.id, "status": "offline", "last_seen": None}
    seen = user.last_seen if status == "offline" else None
    return {"id": user.id, "status": status, "last_seen": seen.isoformat() if seen else None}


def card_dict(user, *, status: str) -> dict:
    """A profile card: picture, names, presence, time zone and local time, and where the direct
    chat with them is (a POST there opens it)."""
    zone = next((z for z in (user.time_zone, user.reported_time_zone) if time_zone_valid(z)), None)
    return {
        **author_dict(user),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "presence": presence_dict(user, status=status),
        "time_zone": zone,
        "local_time": timezone.now().astimezone(ZoneInfo(zone)).isoformat() if zone else None,
        "direct_url": reverse("chat:direct", args=[user.username]),
    }
