"""The JSON shapes of rooms and messages, shared by the socket, the API and the pages."""

from django.urls import reverse

from chat.models import Message, Room


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


def room_dict(room: Room, *, title: str) -> dict:
    return {
        "id": room.id,
        "kind": room.kind,
        "name": title,
        "slug": room.slug,
        "last_seq": room.last_seq,
    }
