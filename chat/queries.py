"""Every non-trivial read of chat data, and the one permission check per room."""

from django.contrib.auth import get_user_model
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db.models import Count, F, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce

from chat.errors import BadRequest, NotFound
from chat.models import Membership, Message, Room, RoomEvent

User = get_user_model()

HISTORY_PAGE = 50
HISTORY_MAX = 100


def room_by_slug(*, slug: str) -> Room:
    """A public or private room by slug (membership is checked by the caller's next step)."""
    try:
        return Room.objects.get(slug=slug)
    except Room.DoesNotExist:
        raise NotFound("No such room.") from None


def direct_partner(*, user, username: str):
    """The other active person of a direct chat with `user`; NotFound for nobody or oneself."""
    other = None
    if user.is_active and "\x00" not in username:  # PostgreSQL text cannot hold NUL
        other = User.objects.filter(username=username, is_active=True).exclude(id=user.id).first()
    if other is None:
        raise NotFound("No such person.")
    return other


def direct_key(*, user, other) -> str:
    """The key that makes a direct room unique per pair of people."""
    low, high = sorted([user.id, other.id])
    return f"{low}:{high}"


def direct_room(*, user, other) -> Room | None:
    """The direct room between two people, or None while neither has started it."""
    return Room.objects.filter(direct_key=direct_key(user=user, other=other)).first()


def search_term_clean(term: str) -> str:
    """Search words as typed, stripped; BadRequest for a NUL, which PostgreSQL text cannot hold."""
    if "\x00" in term:
        raise BadRequest("Search words cannot contain the NUL character.")
    return term.strip()


def room_ids_for_users(*, user_ids: set[int]) -> dict[int, set[int]]:
    """The ids of each user's rooms now, in one query."""
    rooms: dict[int, set[int]] = {user_id: set() for user_id in user_ids}
    memberships = Membership.objects.filter(user_id__in=user_ids).values_list("user_id", "room_id")
    for user_id, room_id in memberships:
        rooms[user_id].add(room_id)
    return rooms


def room_last_seqs(*, room_ids: set[int], before, since=None) -> dict[int, int]:
    """The last seq of each of the rooms whose latest message was stored before `before` (and
    after `since`, if given)."""
    rooms = Room.objects.filter(id__in=room_ids, last_message_at__lt=before)
    if since is not None:
        rooms = rooms.filter(last_message_at__gte=since)
    return dict(rooms.values_list("id", "last_seq"))


def rooms_for_user(*, user, room_id: int | None = None) -> list[Room]:
    """The user's rooms (or just `room_id`), most recently active first, each with `title`,
    `partner` (for a direct room), `last_body`, `last_author_name` and `unread`; a fixed number of
    queries whatever their count."""
    last = Message.objects.filter(room=OuterRef("pk"), deleted_at__isnull=True).order_by("-seq")
    read_upto = Membership.objects.filter(room=OuterRef(OuterRef("pk")), user=user).values(
        "last_read_seq"
    )[:1]
    # Unread: others' messages past the read marker that still stand (a deleted one no longer
    # counts, and one's own never does).
    unread = (
        Message.objects.filter(room=OuterRef("pk"), deleted_at__isnull=True)
        .exclude(author=user)
        .filter(seq__gt=Coalesce(Subquery(read_upto), 0))
        .order_by()
        .values("room")
        .annotate(count=Count("id"))
        .values("count")
    )
    rooms = Room.objects.filter(memberships__user=user)
    if room_id is not None:
        rooms = rooms.filter(id=room_id)
    rooms = list(
        rooms.annotate(
            last_body=Subquery(last.values("body")[:1]),
            last_author_name=Subquery(last.values("author__username")[:1]),
            unread_count=Coalesce(Subquery(unread), 0),
        )
        .prefetch_related(
            Prefetch(
                "memberships",
                queryset=Membership.objects.filter(room__kind=Room.Kind.DIRECT)
                .exclude(user=user)
                .select_related("user"),
                to_attr="partner_memberships",
            )
        )
        .order_by(F("last_message_at").desc(nulls_last=True), "-created_at")
    )
    for room in rooms:
        room.partner = room.partner_memberships[0].user if room.partner_memberships else None
        room.title = room_title(room=room, partner=room.partner)
        room.unread = room.unread_count
    return rooms


def room_title(*, room: Room, partner) -> str:
    if room.is_direct:
        return partner.display_name if partner else "(nobody)"
    return room.name


def public_rooms_not_joined(*, user) -> list[Room]:
    return list(
        Room.objects.filter(kind=Room.Kind.PUBLIC).exclude(memberships__user=user).order_by("name")
    )


def room_members(*, room: Room) -> list[Membership]:
    return list(
        Membership.objects.filter(room=room).select_related("user").order_by("joined_at", "id")
    )


def messages_before(*, room_id: int, before: int | None, limit: int) -> tuple[list[Message], bool]:
    """Up to `limit` messages older than seq `before` (newest when None), oldest first."""
    limit = max(1, min(limit, HISTORY_MAX))
    qs = Message.objects.filter(room_id=room_id).select_related("author")
    if before is not None:
        qs = qs.filter(seq__lt=before)
    page = list(qs.order_by("-seq")[: limit + 1])
    has_more = len(page) > limit
    return list(reversed(page[:limit])), has_more


def events_after(*, room_id: int, after: int, limit: int = HISTORY_MAX) -> tuple[list, int, bool]:
    """The room's event stream after position `after`, compacted: each message changed since
    once, in its current state, at the position of its latest change, and each member event;
    oldest first, up to `limit`. Returns (messages and member events, the position the client
    has then seen up to, whether more follow)."""
    limit = max(1, min(limit, HISTORY_MAX))
    # Every position up to the room's last one is committed (each is taken under the room's row
    # lock and written in the same transaction), so reading it first bounds a consistent page.
    last_pos = Room.objects.filter(id=room_id).values_list("last_pos", flat=True).first() or 0
    window = {"room_id": room_id, "pos__gt": after, "pos__lte": last_pos}
    messages = Message.objects.filter(**window).select_related("author").order_by("pos")
    events = RoomEvent.objects.filter(**window).select_related("user").order_by("pos")
    page = sorted([*messages[: limit + 1], *events[: limit + 1]], key=lambda item: item.pos)
    if len(page) > limit:
        return page[:limit], page[limit - 1].pos, True
    return page, last_pos, False


def user_search(*, user, term: str, limit: int = 20) -> list:
    """Active users other than `user` whose username or name contains `term`."""
    term = search_term_clean(term)
    if not term:
        return []
    return list(
        User.objects.filter(is_active=True)
        .exclude(id=user.id)
        .filter(
            Q(username__icontains=term)
            | Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
        )
        .order_by("username")[:limit]
    )


SEARCH_RESULTS = 50


def message_search(*, user, term: str) -> list[Message]:
    """The best matches for `term` among messages of the user's rooms (whole words, any
    language: the 'simple' text-search configuration), newest first among equals."""
    term = search_term_clean(term)[:200]
    if not term:
        return []
    query = SearchQuery(term, search_type="websearch", config="simple")
    return list(
        Message.objects.annotate(
            document=SearchVector("body", config="simple"),
        )
        .filter(document=query, deleted_at__isnull=True, room__memberships__user=user)
        .annotate(rank=SearchRank(F("document"), query))
        .select_related("author", "room")
        .order_by("-rank", "-created_at")[:SEARCH_RESULTS]
    )
