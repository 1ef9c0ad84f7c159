"""Who may do what in a room: the one place for every access rule, called by pages, the API,
the socket consumer and the services alike. An outsider always gets the same NotFound, whether
the room exists or not."""

from chat.errors import Forbidden, NotFound
from chat.models import Membership, Room
from chat.queries import room_by_slug


def room_for_member(*, user, room_id: int) -> Room:
    """The room if `user` belongs to it now; NotFound otherwise, whether or not it exists."""
    if not user.is_authenticated or not user.is_active:
        raise NotFound("No such room.")
    try:
        return Room.objects.get(id=room_id, memberships__user=user)
    except (Room.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such room.") from None


def room_for_reader(*, user, slug: str) -> tuple[Room, bool]:
    """The room at `slug` and whether `user` is a member: members read their rooms, and any
    signed-in user may preview a public room; NotFound otherwise, whether or not it exists."""
    room = room_by_slug(slug=slug)
    active = user.is_authenticated and user.is_active
    joined = active and is_member(user=user, room_id=room.id)
    if not (joined or (active and room.kind == Room.Kind.PUBLIC)):
        raise NotFound("No such room.")
    return room, joined


def is_member(*, user, room_id: int) -> bool:
    return Membership.objects.filter(room_id=room_id, user=user).exists()


def is_owner(*, user, room_id: int) -> bool:
    return Membership.objects.filter(
        room_id=room_id, user=user, role=Membership.Role.OWNER
    ).exists()


def owned_private_room(*, actor, room_id: int) -> Room:
    """The private room if `actor` owns it: NotFound for outsiders, Forbidden for members."""
    room = room_for_member(user=actor, room_id=room_id)
    if room.kind != Room.Kind.PRIVATE:
        raise Forbidden("Only private rooms have invitations.")
    if not is_owner(user=actor, room_id=room.id):
        raise Forbidden("Only the room's owner may do that.")
    return room
