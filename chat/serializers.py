"""The JSON shapes of rooms and messages, shared by the socket, the API and the pages."""

from django.urls import reverse

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
    return reverse("accounts:initials_avatar", args=[user.username])


def message_dict(message: Message) -> dict:
    return {
        "id": message.id,
        "room": message.room_id,
        "seq": message.seq,
        "author": author_dict(message.author),
        "body": message.body,
        "created_at": message.created_at.isoformat(),
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
        "deleted": message.deleted_at is not None,
        "client_id": str(message.client_id),
    }


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


def room_dict(room: Room, *, title: str) -> dict:
    return {
        "id": room.id,
        "kind": room.kind,
        "name": title,
        "slug": room.slug,
        "last_seq": room.last_seq,
        "last_pos": room.last_pos,
    }
