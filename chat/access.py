"""Who may do what in a room: the one place for every access rule, called by pages, the API,
the socket consumer and the services alike. An outsider always gets the same NotFound, whether
the room exists or not."""

from django.conf import settings
from django.contrib.auth import get_user_model

from chat.errors import Forbidden, NotFound
from chat.models import Membership, Room, RoomEvent
from chat.queries import room_by_slug

User = get_user_model()


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
    room = room_by_slug(slug=slug, user=user)
    active = user.is_authenticated and user.is_active
    joined = active and room.joined
    if not (joined or (active and room.kind == Room.Kind.PUBLIC)):
        raise NotFound("No such room.")
    return room, joined


def room_lost(*, user, slug: str) -> RoomEvent | None:
    """How `user` lost the private room at `slug` (their latest leaving or removal) when they
    belonged to it once and do not now; None for everyone else, as for a room that is not there."""
    if not user.is_authenticated or not user.is_active:
        return None
    return (
        RoomEvent.objects.select_related("room")
        .filter(
            room__slug=slug,
            room__kind=Room.Kind.PRIVATE,
            user=user,
            kind__in=[RoomEvent.Kind.LEFT, RoomEvent.Kind.REMOVED],
        )
        .exclude(room__memberships__user=user)
        .order_by("-pos")
        .first()
    )


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


def users_sharing_a_room(*, user, user_ids) -> set[int]:
    """Those of `user_ids` who share a room with `user` now (the user themself included): the
    only people whose presence and profile card the user may see."""
    if not user.is_authenticated or not user.is_active:
        return set()
    shared = set(
        Membership.objects.filter(
            user_id__in=user_ids, user__is_active=True, room__memberships__user=user
        ).values_list("user_id", flat=True)
    )
    return shared | ({user.id} & set(user_ids))


def receipts_shown(*, user, room_id: int) -> bool:
    """Read receipts exist in rooms of at most CHAT_RECEIPTS_MAX_MEMBERS members, and only for
    people who send their own (who turns them off sees none either)."""
    most = settings.CHAT_RECEIPTS_MAX_MEMBERS
    # Whether a member past the most exists: a look at one row, not a count of a large room.
    larger = Membership.objects.filter(room_id=room_id).order_by("id")[most : most + 1].exists()
    # The setting as stored: a socket's copy of the user follows it by an event, which can be lost.
    sends = User.objects.filter(id=user.id, send_read_receipts=True).exists()
    return sends and not larger


def person_for_viewer(*, viewer, user_id: int):
    """The person if they share a room with `viewer` now; NotFound otherwise, whether or not
    they exist."""
    if not users_sharing_a_room(user=viewer, user_ids=[user_id]):
        raise NotFound("No such person.")
    return User.objects.get(id=user_id)
